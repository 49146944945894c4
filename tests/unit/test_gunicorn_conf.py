"""api/gunicorn_conf.py: its settings come from config.py, and gunicorn accepts every one."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config as GunicornConfig

from config import SETTINGS, ConfigError

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "api" / "gunicorn_conf.py"


def _gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, Any]:
    """The module-level names of gunicorn_conf.py, run with exactly `environ` for our settings."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_without_variables_the_api_listens_on_the_defaults_of_config(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _gunicorn_conf(monkeypatch)
    assert conf["bind"] == "127.0.0.1:3000"
    assert (conf["workers"], conf["threads"]) == (2, 4)
    assert "logconfig_dict" not in conf


def test_the_variables_reach_gunicorn_through_config(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _gunicorn_conf(
        monkeypatch, HOST="0.0.0.0", PORT="8080", WEB_WORKERS="3", WEB_THREADS="5", LOG_FORMAT=" JSON "
    )
    assert conf["bind"] == "0.0.0.0:8080"
    assert (conf["workers"], conf["threads"]) == (3, 5)
    assert conf["logconfig_dict"]["formatters"]["json"]["()"] == "logsetup.JsonFormatter"


@pytest.mark.parametrize(("name", "value"), [("WEB_WORKERS", "0"), ("WEB_THREADS", "four"), ("PORT", "0")])
def test_a_bad_value_stops_gunicorn_with_an_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        _gunicorn_conf(monkeypatch, **{name: value})


def test_gunicorn_accepts_every_setting_the_file_defines(monkeypatch: pytest.MonkeyPatch) -> None:
    # gunicorn sets each module-level name that is one of its settings, and fails on a bad one.
    gunicorn = GunicornConfig()
    conf = _gunicorn_conf(monkeypatch, LOG_FORMAT="json")
    applied = {name: value for name, value in conf.items() if name in gunicorn.settings}
    for name, value in applied.items():
        gunicorn.set(name, value)
    assert {"bind", "workers", "threads", "worker_class", "logconfig_dict", "on_starting"} <= set(applied)
    assert (gunicorn.bind, gunicorn.workers, gunicorn.threads) == (["127.0.0.1:3000"], 2, 4)


def test_gunicorn_runs_our_worker_class_that_reads_requests_whole_in_its_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.http_worker import RequestBufferingWorker

    gunicorn = GunicornConfig()
    gunicorn.set("worker_class", _gunicorn_conf(monkeypatch)["worker_class"])
    assert gunicorn.worker_class is RequestBufferingWorker
