"""The actors: one message per photo, carrying the photo's UUID and nothing else, in two lanes
(actors/lanes.py): new photos, and completed photos rendered again."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.lanes import NEW_PRIORITY, NEW_QUEUE, RERENDER_PRIORITY, RERENDER_QUEUE
from actors.photo_worker import ACTOR_NAME, RERENDER_ACTOR_NAME, photo_worker
from pipeline.retry import FAILS_AT_ONCE

# Well under RabbitMQ's 30-minute consumer_timeout; downloads and decoding have their own
# tighter limits (DOWNLOAD_DEADLINE_S, MAX_IMAGE_PIXELS), this is the last line.
TIME_LIMIT_MS = 5 * 60 * 1000


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=NEW_QUEUE,
    priority=NEW_PRIORITY,
    throws=FAILS_AT_ONCE,
    time_limit=TIME_LIMIT_MS,
)
def process_photo(photo_id: str) -> None:
    """Turn the photo `photo_id` into its renditions (the worker process's PhotoWorker does it)."""
    photo_worker(dramatiq.get_broker()).handle(photo_id, CurrentMessage.get_current_message())


@dramatiq.actor(
    actor_name=RERENDER_ACTOR_NAME,
    queue_name=RERENDER_QUEUE,
    priority=RERENDER_PRIORITY,
    throws=FAILS_AT_ONCE,
    time_limit=TIME_LIMIT_MS,
)
def rerender_photo(photo_id: str) -> None:
    """Render the completed photo `photo_id` again with the current settings."""
    photo_worker(dramatiq.get_broker()).handle_rerender(photo_id, CurrentMessage.get_current_message())
