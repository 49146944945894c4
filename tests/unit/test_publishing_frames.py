"""The frames written for a batch are byte for byte those Dramatiq's own send would put on the
wire: built here from the arguments RabbitmqBroker.enqueue passes to pika's basic_publish."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pika import frame, spec

from publishing.frames import properties, publish_frames

QUEUE = "photo-processor"


class _RecordingChannel:
    """Stands for the broker's BlockingChannel: records each basic_publish, accepts the rest."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def basic_publish(self, **kwargs: Any) -> None:
        self.published.append(kwargs)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _enqueued(priorities: list[int | None]) -> list[dict[str, Any]]:
    """What RabbitmqBroker.enqueue (as process_photo.send calls it) passes to basic_publish."""
    broker = RabbitmqBroker(url="amqp://guest:guest@127.0.0.1:9/%2F", confirm_delivery=True)
    channel = _RecordingChannel()
    broker.state.channel = channel
    for number, priority in enumerate(priorities):
        options = {} if priority is None else {"broker_priority": priority}
        message = dramatiq.Message(
            queue_name=QUEUE,
            actor_name="process_photo",
            args=(str(number % 2) * 12,),  # bodies of one size: a frame header shared
            kwargs={},
            options=options,
        )
        broker.enqueue(message)
    return channel.published


def _as_pika_sends(channel: int, published: dict[str, Any], body_max: int) -> bytes:
    """What Connection._send_message marshals for one Channel.basic_publish (pika 1.x)."""
    method = spec.Basic.Publish(
        exchange=published["exchange"], routing_key=published["routing_key"], mandatory=published["mandatory"]
    )
    body = published["body"]
    parts = [
        frame.Method(channel, method).marshal(),
        frame.Header(channel, len(body), published["properties"]).marshal(),
    ]
    for start in range(0, len(body), body_max):
        parts.append(frame.Body(channel, body[start : start + body_max]).marshal())
    return b"".join(parts)


@pytest.mark.parametrize("body_max", [10, 131_064], ids=["bodies-in-several-frames", "one-frame-each"])
def test_a_batch_is_the_frames_a_dramatiq_send_would_send_one_message_at_a_time(body_max: int) -> None:
    priorities = [None, 5, None, None, 0, None, 5]
    published = _enqueued(priorities)
    assert len(published) == len(priorities)

    written = publish_frames(
        3,
        QUEUE,
        [(p["body"], priority) for p, priority in zip(published, priorities, strict=True)],
        body_max=body_max,
    )

    assert written == b"".join(_as_pika_sends(3, p, body_max) for p in published)


def test_the_properties_are_those_of_a_dramatiq_send() -> None:
    for priority, published in zip([None, 7], _enqueued([None, 7]), strict=True):
        assert vars(properties(priority)) == vars(published["properties"])
        assert published["mandatory"] is True
        assert published["exchange"] == ""
