"""gunicorn's internals, as api/http_worker.py uses them: a gunicorn release that changes any of
them fails here, by name, before the end-to-end tests of slow clients fail in some subtler way."""

from __future__ import annotations

import inspect

import gunicorn
from gunicorn.workers import gthread

from api.http_worker import TESTED_GUNICORN, RequestBufferingWorker


def test_the_installed_gunicorn_is_a_release_whose_internals_were_checked() -> None:
    assert gunicorn.__version__ in TESTED_GUNICORN, (
        f"gunicorn {gunicorn.__version__}: read api/http_worker.py against its workers/gthread.py, "
        "run tests/e2e/test_api_edges.py, then add it to TESTED_GUNICORN and requirements.in"
    )


def test_the_methods_the_worker_overrides_or_calls_are_still_there_with_their_signatures() -> None:
    signatures = {
        name: list(inspect.signature(getattr(gthread.ThreadWorker, name)).parameters)
        for name in ("enqueue_req", "handle", "murder_pending", "check_config", "__init__")
    }
    assert signatures["enqueue_req"] == ["self", "conn"]
    assert signatures["handle"] == ["self", "conn"]
    assert signatures["murder_pending"] == ["self"]
    assert signatures["check_config"] == ["cfg", "log"]  # a classmethod, bound
    assert signatures["__init__"] == ["self", "args", "kwargs"]
    assert issubclass(RequestBufferingWorker, gthread.ThreadWorker)
    for name in ("init", "close"):
        assert callable(getattr(gthread.TConn, name)), name


def test_the_state_the_worker_reads_is_still_set_where_it_was() -> None:
    """TConn's and ThreadWorker's attributes, as their __init__ (and init_process) set them."""
    conn_init = inspect.getsource(gthread.TConn.__init__)
    for attribute in ("self.sock", "self.client", "self.parser", "self.data_ready"):
        assert f"{attribute} =" in conn_init, attribute
    worker_source = inspect.getsource(gthread.ThreadWorker)
    for attribute in ("self.poller", "self.nr_conns"):
        assert f"{attribute} =" in worker_source, attribute
    # A kept-alive connection comes back to enqueue_req; the bytes its parser read ahead of the
    # next request are taken from the unreader.
    assert "take_buffered" in inspect.getsource(gunicorn.http.unreader)
    assert "def unread" in inspect.getsource(gunicorn.http.unreader)
