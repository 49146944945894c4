"""Publishing photos to the worker: one Dramatiq message per photo on RabbitMQ, counted as queued
only once the broker confirmed it.

The door is `send_all(publish, photo_ids)` (publishing/queue_photos.py, open it first): it gives
the photos a fresh budget of attempts, sends them through a `Publish`, records `queued_at`, and
raises `PublishInterrupted` naming what the broker did and did not take. The `Publish` the API and
the commands use is `ConfirmedPublisher` (publishing/confirmed.py): a batch's messages built at
once (messages.py), framed as one buffer (frames.py), written on a connection kept per thread
(link.py, kept alive while idle by upkeep.py), their confirms matched back (batch.py).
"""

from publishing.confirmed import ConfirmedPublisher
from publishing.queue_photos import (
    BROKER_ERRORS,
    Publish,
    PublishInterrupted,
    mark_queued,
    one_at_a_time,
    send_all,
)

__all__ = [
    "BROKER_ERRORS",
    "ConfirmedPublisher",
    "Publish",
    "PublishInterrupted",
    "mark_queued",
    "one_at_a_time",
    "send_all",
]
