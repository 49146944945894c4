"""Sending photos to the worker, one message each, and knowing which messages the broker took."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

import peewee
import pika.exceptions
from dramatiq.errors import BrokerError
from peewee import Database

from models import Photo
from pipeline import process_requests

log = logging.getLogger(__name__)

# What a publish raises when the broker is down, refuses the message or does not confirm it.
BROKER_ERRORS = (BrokerError, pika.exceptions.AMQPError, OSError)


class PublishInterrupted(Exception):
    """Raised when the broker failed during a batch: says which messages it confirmed and which not.

    Sending the rest again is harmless: the worker ignores a message for a completed photo.
    """

    def __init__(self, queued: list[str], not_queued: list[str]) -> None:
        super().__init__(f"the broker confirmed {len(queued)} of {len(queued) + len(not_queued)} messages")
        self.queued = queued
        self.not_queued = not_queued


class Publish(Protocol):
    """Sends one message per photo; returns them once the broker confirmed every one, or raises
    PublishInterrupted naming those it confirmed and the others. A publisher that writes its
    messages before it waits for their confirms calls `on_written` in between, once: work that
    may overlap the broker's (it must not raise); one that does not, never calls it."""

    def __call__(
        self, photo_ids: list[str], /, *, on_written: Callable[[], None] | None = None
    ) -> list[str]: ...


def send_all(publish: Publish, photo_ids: Iterable[str]) -> list[str]:
    """Send one message per photo and mark the confirmed ones queued.

    Each is a new request to process the photo, with a fresh budget of attempts: counted from
    before the first message goes, so that a worker fast enough to claim it first still sees it.
    queued_at is written while the broker works on the messages, once they are on the wire
    (the UPDATE of 1000 rows costs about what RabbitMQ takes to confirm them); those the broker
    then does not confirm get it cleared again, so that process-pending does not skip them.
    """
    pending = list(photo_ids)
    if not pending:
        return []
    process_requests.start_request(_database(), pending)
    marked: list[bool] = []

    def mark_while_confirming() -> None:
        marked.append(mark_queued(pending))

    try:
        queued = publish(pending, on_written=mark_while_confirming)
    except PublishInterrupted as interrupted:
        if marked:
            _unmark(interrupted.not_queued)
        else:
            mark_queued(interrupted.queued)
        raise
    if not marked:
        mark_queued(queued)
    return queued


def one_at_a_time(send: Callable[[str], object]) -> Publish:
    """A Publish that sends each message on its own (an actor's `send` waits for its confirm):
    for the reconciler's few messages, and for tests that fail a send of their choosing."""

    def publish(photo_ids: list[str], /, *, on_written: Callable[[], None] | None = None) -> list[str]:
        queued: list[str] = []
        for photo_id in photo_ids:
            try:
                send(photo_id)
            except BROKER_ERRORS as error:
                log.warning(
                    "Publishing failed after %d of %d messages: %r", len(queued), len(photo_ids), error
                )
                raise PublishInterrupted(queued, photo_ids[len(queued) :]) from error
            queued.append(photo_id)
        return queued

    return publish


def mark_queued(photo_ids: list[str]) -> bool:
    """Record when the photos' messages were sent (photos.queued_at); say whether it was.

    Best effort: the messages are on their way whatever happens here, so a database error is
    logged, not raised; the answer must still say they were queued.
    """
    if not photo_ids:
        return True
    try:
        process_requests.mark_sent(_database(), photo_ids)
    except (peewee.OperationalError, peewee.InterfaceError) as error:
        log.warning("Could not record queued_at for %d photos: %r", len(photo_ids), error)
        return False
    return True


def _unmark(photo_ids: list[str]) -> None:
    """Clear queued_at of photos marked while their messages went out, which the broker then did
    not confirm (best effort, as marking is)."""
    if not photo_ids:
        return
    try:
        process_requests.unmark_sent(_database(), photo_ids)
    except (peewee.OperationalError, peewee.InterfaceError) as error:
        log.warning("Could not clear queued_at of %d photos not queued: %r", len(photo_ids), error)


def _database() -> Database:
    """The database the models are bound to (the request's, in tests that bind another)."""
    return Photo._meta.database
