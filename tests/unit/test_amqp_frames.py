"""The frames written for a batch are byte for byte those pika's basic_publish would send."""

from __future__ import annotations

import pika
from pika import frame, spec

from service.amqp_frames import properties, publish_frames


def _as_pika_sends(channel: int, queue: str, body: bytes, priority: int | None, body_max: int) -> bytes:
    """What Connection._send_message marshals for one Channel.basic_publish (pika 1.x)."""
    method = spec.Basic.Publish(exchange="", routing_key=queue, mandatory=True)
    parts = [
        frame.Method(channel, method).marshal(),
        frame.Header(channel, len(body), properties(priority)).marshal(),
    ]
    for start in range(0, len(body), body_max):
        parts.append(frame.Body(channel, body[start : start + body_max]).marshal())
    return b"".join(parts)


def test_a_batch_is_the_frames_pika_would_send_one_message_at_a_time() -> None:
    messages = [(b'{"a":1}', None), (b'{"b":22}', 5), (b'{"c":1}', None), (b"", None), (b"x" * 25, None)]

    written = publish_frames(3, "photo-processor", messages, body_max=10)

    expected = b"".join(
        _as_pika_sends(3, "photo-processor", body, priority, 10) for body, priority in messages
    )
    assert written == expected


def test_the_properties_are_those_of_a_dramatiq_send() -> None:
    sent = properties(None)

    assert (sent.delivery_mode, sent.priority) == (2, None)
    assert isinstance(sent, pika.BasicProperties)
