"""The actor: one message per photo, carrying the photo's UUID and nothing else."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors import runtime
from actors.broker import QUEUE_NAME
from pipeline.errors import PermanentError


@dramatiq.actor(
    actor_name="process_photo",
    queue_name=QUEUE_NAME,
    # Permanent errors fail the photo at once; logging them with a traceback would be noise.
    throws=(PermanentError,),
    # Well under RabbitMQ's 30-minute consumer_timeout; downloads and decoding have their own
    # tighter limits (DOWNLOAD_DEADLINE_S, MAX_IMAGE_PIXELS), this is the last line.
    time_limit=5 * 60 * 1000,
)
def process_photo(photo_id: str) -> None:
    """Turn the photo `photo_id` into a thumbnail."""
    message = CurrentMessage.get_current_message()
    runtime.process(photo_id, message_id=message.message_id if message else None)
