"""The actor: one message per photo, carrying the photo's UUID and nothing else."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.broker import QUEUE_NAME
from actors.photo_worker import ACTOR_NAME, photo_worker
from pipeline.retry import FAILS_AT_ONCE


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=QUEUE_NAME,
    throws=FAILS_AT_ONCE,
    # Well under RabbitMQ's 30-minute consumer_timeout; downloads and decoding have their own
    # tighter limits (DOWNLOAD_DEADLINE_S, MAX_IMAGE_PIXELS), this is the last line.
    time_limit=5 * 60 * 1000,
)
def process_photo(photo_id: str) -> None:
    """Turn the photo `photo_id` into a thumbnail (the worker process's PhotoWorker does it)."""
    photo_worker(dramatiq.get_broker()).handle(photo_id, CurrentMessage.get_current_message())
