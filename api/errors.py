"""Domain and infrastructure errors mapped to HTTP, in one place, always as JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import falcon
import peewee

from pipeline.errors import StorageError
from publishing import PublishInterrupted

log = logging.getLogger(__name__)

Handler = Callable[[falcon.Request, falcon.Response, Exception, Any], None]


def answer_with(
    error_class: type[falcon.HTTPError], *, title: str, description: str, **extra: Any
) -> Handler:
    """A handler that logs the error it caught and answers `error_class` (JSON, no traceback)."""

    def handle(req: falcon.Request, resp: falcon.Response, error: Exception, params: Any) -> None:
        log.warning("%s during %s %s: %r", title, req.method, req.path, error)
        raise error_class(title=title, description=description, **extra)

    return handle


def register(app: falcon.App) -> None:
    """Install the handlers on `app`."""
    # A database or broker that cannot be reached (or timed out) is a 503, never a 500.
    database_unavailable = answer_with(
        falcon.HTTPServiceUnavailable,
        title="Database unavailable",
        description="The database could not be reached; try again shortly.",
        retry_after=5,
    )
    app.add_error_handler(peewee.OperationalError, database_unavailable)
    app.add_error_handler(peewee.InterfaceError, database_unavailable)
    app.add_error_handler(PublishInterrupted, _publish_interrupted)
    # The thumbnails' store down, throttling or refusing us: as with the database, a 503.
    app.add_error_handler(
        StorageError,
        answer_with(
            falcon.HTTPServiceUnavailable,
            title="Thumbnail storage unavailable",
            description="The thumbnails' store could not be reached; try again shortly.",
            retry_after=5,
        ),
    )
    # A value the database refuses (SQLSTATE class 22) came from the request: a 400, not a 500.
    app.add_error_handler(
        peewee.DataError,
        answer_with(
            falcon.HTTPBadRequest,
            title="Invalid value",
            description="A value in the request is out of range.",
        ),
    )


def _publish_interrupted(
    req: falcon.Request, resp: falcon.Response, error: PublishInterrupted, params: Any
) -> None:
    """Not logged here: `send_all` logged the broker's error where it happened."""
    answer_interrupted(resp, error.queued, error.not_queued)


def answer_interrupted(resp: falcon.Response, queued: list[str], not_queued: list[str]) -> None:
    """A 503 that lists the photos whose messages the broker confirmed, and the others."""
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "5")
    resp.media = {
        "title": "Message broker unavailable",
        "description": (
            f"The broker confirmed {len(queued)} of {len(queued) + len(not_queued)}"
            " messages. The photos in 'queued' will be processed; send the others again later."
        ),
        "queued": queued,
        "not_queued": not_queued,
    }
