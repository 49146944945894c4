"""Domain and infrastructure errors mapped to HTTP, in one place, always as JSON."""

from __future__ import annotations

import logging
from typing import Any

import falcon
import peewee

from service.queueing import BROKER_ERRORS

log = logging.getLogger(__name__)


def database_unavailable(req: falcon.Request, resp: falcon.Response, error: Exception, params: Any) -> None:
    """A database that cannot be reached (or timed out) is a 503, never a 500 with a traceback."""
    log.warning("Database unavailable during %s %s: %r", req.method, req.path, error)
    raise falcon.HTTPServiceUnavailable(
        title="Database unavailable",
        description="The database could not be reached; try again shortly.",
        retry_after=5,
    )


def broker_unavailable(req: falcon.Request, resp: falcon.Response, error: Exception, params: Any) -> None:
    """A broker that cannot be reached before anything was queued is a 503."""
    log.warning("Message broker unavailable during %s %s: %r", req.method, req.path, error)
    raise falcon.HTTPServiceUnavailable(
        title="Message broker unavailable",
        description="The message broker could not be reached; nothing was queued. Try again shortly.",
        retry_after=5,
    )


def invalid_value(req: falcon.Request, resp: falcon.Response, error: Exception, params: Any) -> None:
    """A value the database refuses (SQLSTATE class 22) came from the request: a 400, not a 500."""
    log.warning("Database refused a value during %s %s: %r", req.method, req.path, error)
    raise falcon.HTTPBadRequest(title="Invalid value", description="A value in the request is out of range.")


def register(app: falcon.App) -> None:
    """Install the handlers on `app`."""
    app.add_error_handler(peewee.DataError, invalid_value)
    app.add_error_handler(peewee.OperationalError, database_unavailable)
    app.add_error_handler(peewee.InterfaceError, database_unavailable)
    for error_class in BROKER_ERRORS:
        if error_class is not OSError:
            app.add_error_handler(error_class, broker_unavailable)
