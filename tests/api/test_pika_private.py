"""pika's private API, as publishing/pika_private.py uses it, on the run's real RabbitMQ vhost: a
pika release that changes any of it fails here, by name, before anything subtler breaks."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pika

from config import Config
from harness.queue import QueueProbe
from publishing import pika_private
from publishing.frames import publish_frames

QUEUE = "photo-processor"


def test_the_installed_pika_is_a_release_whose_private_api_was_checked() -> None:
    assert pika.__version__ in pika_private.TESTED_VERSIONS, (
        f"pika {pika.__version__}: read publishing/pika_private.py against it, run this module, "
        "then add it to TESTED_VERSIONS and requirements.in"
    )


class _Connection:
    """A SelectConnection with one channel in confirm mode, its loop run until a condition."""

    def __init__(self, url: str) -> None:
        self.acked: list[int] = []
        self.closed_with: BaseException | None = None
        self.channel: Any = None
        self.connection = pika.SelectConnection(
            pika.URLParameters(url),
            on_open_callback=lambda c: c.channel(on_open_callback=self._opened),
            on_close_callback=self._closed,
        )
        self.run_until(lambda: self.channel is not None and self.channel.is_open)

    def _opened(self, channel: Any) -> None:
        channel.confirm_delivery(ack_nack_callback=lambda frame: self.acked.append(frame.method.delivery_tag))
        # Declared by the broker beforehand, with Dramatiq's arguments: here only looked up.
        channel.queue_declare(QUEUE, passive=True, callback=lambda _frame: setattr(self, "channel", channel))

    def _closed(self, _connection: Any, reason: BaseException) -> None:
        self.closed_with = reason

    def run_until(self, done: Any, timeout: float = 10) -> None:
        ioloop = self.connection.ioloop
        until = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < until, "the condition was not met in time"
            ioloop.call_later(0.01, ioloop.stop)
            ioloop.start()


def test_each_private_call_does_what_publishing_needs(
    config: Config, queue: QueueProbe, actors_package: Any
) -> None:
    actors_package.broker.declare_queue(QUEUE, ensure=True)
    link = _Connection(config.amqp_url)
    try:
        frame_max = link.connection.params.frame_max
        assert pika_private.body_max(link.connection) == frame_max - 8

        photo_ids = [str(uuid.uuid4()) for _ in range(3)]
        bodies = [(f'{{"args":["{photo_id}"]}}'.encode(), None) for photo_id in photo_ids]
        frames = publish_frames(
            link.channel.channel_number, QUEUE, bodies, pika_private.body_max(link.connection)
        )
        pika_private.write_frames(link.connection, frames)
        assert not pika_private.write_buffer_empty(link.connection), "written, not sent before the loop runs"
        link.run_until(lambda: pika_private.write_buffer_empty(link.connection))
        link.run_until(lambda: bool(link.acked) and max(link.acked) == 3)  # one ack may confirm several
        assert [body.split(b'"')[3].decode() for body in queue.bodies()] == photo_ids

        reason = ConnectionError("the peer went silent")
        pika_private.abort(link.connection, reason)
        link.run_until(lambda: link.closed_with is not None)
        assert link.closed_with is reason, repr(link.closed_with)
    finally:
        if link.connection.is_open:
            link.connection.close()
            link.run_until(lambda: link.connection.is_closed)
        link.connection.ioloop.close()
