"""The AMQP frames of a batch of publishes, built as one buffer to write in one go.

pika's `basic_publish` builds three frame objects per message and hands each to the socket on
its own: for a batch of 1000, 3000 writes and most of the publishing time. The frames of a batch
differ only in their body and its size, so the method frame is marshalled once, the header once
per (body size, priority), and the bodies are framed around the encoded messages. The bytes are
those `Channel.basic_publish` would send (tests/unit/test_publishing_frames.py compares them).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pika import frame, spec

_BODY_FRAME_HEAD = struct.Struct(">BHI")  # frame type, channel, payload size
_FRAME_END = bytes([spec.FRAME_END])


def properties(priority: int | None) -> spec.BasicProperties:
    """The properties RabbitmqBroker.enqueue gives a message: persistent, with its priority."""
    return spec.BasicProperties(delivery_mode=2, priority=priority)


def publish_frames(
    channel_number: int,
    routing_key: str,
    messages: Sequence[tuple[bytes, int | None]],
    body_max: int,
) -> bytes:
    """The frames publishing each (body, priority) to the default exchange under `routing_key`,
    mandatory, with bodies cut into frames of at most `body_max` bytes (the connection's frame
    size less the frame's own 8)."""
    method = frame.Method(
        channel_number, spec.Basic.Publish(exchange="", routing_key=routing_key, mandatory=True)
    ).marshal()
    # What comes before a body that fits one frame, per (body size, priority): the method, the
    # header and the body frame's head, joined once (a batch's bodies mostly share one size).
    leads: dict[tuple[int, int | None], bytes] = {}
    parts: list[bytes] = []
    for body, priority in messages:
        size = len(body)
        if 0 < size <= body_max:
            lead = leads.get((size, priority))
            if lead is None:
                lead = method + _header(channel_number, size, priority) + _body_head(channel_number, size)
                leads[size, priority] = lead
            parts += (lead, body, _FRAME_END)
            continue
        parts += (method, _header(channel_number, size, priority))
        for start in range(0, size, body_max):
            chunk = body[start : start + body_max]
            parts += (_body_head(channel_number, len(chunk)), chunk, _FRAME_END)
    return b"".join(parts)


def _header(channel_number: int, size: int, priority: int | None) -> bytes:
    return bytes(frame.Header(channel_number, size, properties(priority)).marshal())


def _body_head(channel_number: int, size: int) -> bytes:
    return _BODY_FRAME_HEAD.pack(spec.FRAME_BODY, channel_number, size)
