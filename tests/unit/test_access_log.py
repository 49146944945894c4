"""api/access_log.py: the access log line is gunicorn's own, gathered with less work."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gunicorn import glogging
from gunicorn.config import Config as GunicornConfig

from api.access_log import AccessLogger

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "api" / "gunicorn_conf.py"
ENVIRON = {
    "REMOTE_ADDR": "192.0.2.7",
    "REQUEST_METHOD": "GET",
    "RAW_URI": '/photos/pending?limit=10&q="x"',
    "PATH_INFO": "/photos/pending",
    "QUERY_STRING": 'limit=10&q="x"',
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_USER_AGENT": "wrk",
}


class _Response:
    status = "200 OK"
    sent = 297
    headers = (("Content-Type", "application/json"),)


class _Request:
    headers = (("USER-AGENT", "wrk"),)


def _line(logger_class: type[glogging.Logger], access_log_format: str, response: Any = None) -> str:
    cfg = GunicornConfig()
    cfg.set("access_log_format", access_log_format)
    logger = logger_class(cfg)
    atoms = logger.atoms_wrapper_class(
        logger.atoms(response or _Response(), _Request(), ENVIRON, timedelta(seconds=1, microseconds=2500))
    )
    return str(cfg.access_log_format % atoms)


def test_our_format_gives_the_line_gunicorns_logger_gives() -> None:
    ours = runpy.run_path(str(GUNICORN_CONF))["access_log_format"]
    assert _line(AccessLogger, ours) == _line(glogging.Logger, ours)
    assert (
        _line(AccessLogger, ours)
        == '192.0.2.7 "GET /photos/pending?limit=10&q=\\"x\\" HTTP/1.1" 200 297 1002ms'
    )


def test_nothing_sent_yet_is_a_dash_as_in_gunicorn() -> None:
    class Unsent(_Response):
        sent = None

    ours = runpy.run_path(str(GUNICORN_CONF))["access_log_format"]
    assert _line(AccessLogger, ours, Unsent()).endswith(" 200 - 1002ms")
    assert _line(AccessLogger, ours, Unsent()) == _line(glogging.Logger, ours, Unsent())


@pytest.mark.parametrize("other", ['%(h)s %(t)s "%(a)s"', "%(h)s %({user-agent}i)s %(D)s %(p)s"])
def test_any_other_format_is_gathered_by_gunicorns_own_code(other: str) -> None:
    assert _line(AccessLogger, other).split("[")[0] == _line(glogging.Logger, other).split("[")[0]
    assert "wrk" in _line(AccessLogger, other)


def test_gunicorn_runs_it_as_the_api_s_logger() -> None:
    cfg = GunicornConfig()
    cfg.set("logger_class", runpy.run_path(str(GUNICORN_CONF))["logger_class"])
    assert cfg.logger_class is AccessLogger
