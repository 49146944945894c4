"""Every use of pika's private API, in one place, for the pika releases tests/unit/test_pika_private.py
checks (requirements.in pins that range).

None has a public equivalent at the speed we need:
- writing frames already marshalled: `Channel.basic_publish` marshals and writes three frame
  objects per message, one write each, which was most of the time of publishing 1000 messages
  (publishing/frames.py builds a batch's frames as one buffer instead);
- the largest body a frame carries, for cutting bodies into frames as pika does;
- whether the transport's write buffer is empty, to know a batch is on the socket (the loop
  has no event for it);
- aborting a connection whose peer has gone silent: `close()` waits for the broker's Close-Ok,
  which a silent peer never sends.
"""

from __future__ import annotations

import pika

# The pika releases whose private API below was read and tested (tests/unit/test_pika_private.py).
TESTED_VERSIONS = ("1.4.4",)


def body_max(connection: pika.SelectConnection) -> int:
    """The largest body a frame of `connection` carries: frame_max less a frame's own 8 bytes."""
    return int(connection._body_max_length)


def write_frames(connection: pika.SelectConnection, frames: bytes) -> None:
    """Queue marshalled frames for the socket, as `basic_publish` ends by doing for each frame."""
    connection._output_marshaled_frames([frames])


def write_buffer_empty(connection: pika.SelectConnection) -> bool:
    """Whether everything written has left for the socket (no transport: nothing can be written)."""
    transport = connection._transport
    return transport is None or transport.get_write_buffer_size() == 0


def abort(connection: pika.SelectConnection, reason: BaseException) -> None:
    """Drop the connection's stream at once, as pika does when it loses it; its close callbacks
    run with `reason` when the loop next runs (the stream-lost handler reads it from _error)."""
    connection._error = reason
    connection._adapter_disconnect_stream()
