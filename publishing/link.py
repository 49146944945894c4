"""A connection and a channel in confirm mode, kept open between batches by the thread that uses it.

Opening a connection costs the TCP and AMQP handshakes, the channel and Confirm.Select: several
round trips and much of pika's Python, per batch. A Link is opened once and kept; its I/O loop
(pika's SelectConnection) runs only inside its calls, under its lock: the thread that owns it
(ConfirmedPublisher keeps one per thread and per pid) writes a batch and flushes it, then waits
for its confirms; between calls the upkeep thread (publishing/upkeep.py) runs it briefly
for heartbeats.

Delivery tags count the channel's publishes from 1 over its whole life: a batch records the tag
of its first message, and a confirm maps back to the batch's messages from there. A close the
broker sent between batches (rabbitmqctl close_connection, a restart) is read by `refresh` before
the next batch, and a link closed under a batch leaves that batch's unconfirmed messages
unsettled, for the caller to send again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
from pika.channel import Channel

from publishing import pika_private
from publishing.batch import Batch

log = logging.getLogger(__name__)

# After a deadline, how long a closing connection may take before it is dropped.
CLOSE_GRACE_S = 1.0
# While flushing, how often to look at pika's write buffer (its loop has no event for "empty").
FLUSH_POLL_S = 0.001


class Link:
    """One connection, one channel in confirm mode; its loop runs only inside `open`, `refresh`,
    `wait` and `close`, each bounded by a deadline (time.monotonic())."""

    def __init__(self, parameters: pika.URLParameters) -> None:
        self.pid = os.getpid()
        self.used_at = time.monotonic()
        self.failure: BaseException | None = None  # why it closed, once it did
        self._parameters = parameters
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        self._ready = False  # the channel is in confirm mode
        self._tags = 0  # publishes on the channel so far
        self._outstanding: list[Batch] = []  # sent, not all confirmed yet, in the order sent
        self._done: Callable[[], bool] = lambda: True
        # Held while the loop runs: by the owning thread, or by the upkeep thread
        # (publishing/upkeep.py) keeping an idle link's heartbeats going.
        self.lock = threading.RLock()

    @property
    def is_open(self) -> bool:
        return self._ready and self.failure is None

    @property
    def body_max(self) -> int:
        assert self._connection is not None
        return pika_private.body_max(self._connection)

    @property
    def channel_number(self) -> int:
        assert self._channel is not None
        return int(self._channel.channel_number)

    def open(self, until: float) -> None:
        """Connect and put a channel in confirm mode; raise what stopped it."""
        with self.lock:
            self._open(until)

    def _open(self, until: float) -> None:
        self._connection = pika.SelectConnection(
            self._parameters,
            on_open_callback=lambda connection: connection.channel(on_open_callback=self._channel_opened),
            on_open_error_callback=self._failed_to_open,
            on_close_callback=self._closed,
        )
        self._run(until, lambda: self._ready or self.failure is not None)
        if not self.is_open:
            failure = self.failure or TimeoutError("no connection to the broker before the deadline")
            self._drop()
            raise failure

    @property
    def heartbeat_s(self) -> float:
        """The heartbeat interval negotiated with the broker (0: none)."""
        return float(self._connection.params.heartbeat or 0) if self._connection is not None else 0.0

    def refresh(self) -> None:
        """Handle what arrived while the link was idle (a close, heartbeats) and write what that
        called for (a Close-Ok, a heartbeat), without waiting for anything else."""
        with self.lock:
            if self._connection is None:
                return
            self._run(time.monotonic(), lambda: False)
            self.flush(time.monotonic() + CLOSE_GRACE_S)

    def flush(self, until: float) -> None:
        """Run the loop until what was written is on the socket (or the link closed, or the
        deadline): pika writes only while its loop runs, and a caller may not run it again
        before it waits (process-pending reads the next page meanwhile)."""
        with self.lock:
            if self._connection is not None:
                self._run(until, self._flushed, poll_s=FLUSH_POLL_S)

    def _flushed(self) -> bool:
        connection = self._connection
        return self.failure is not None or connection is None or pika_private.write_buffer_empty(connection)

    def send(self, batch: Batch) -> None:
        """Write the batch's frames (they go out while the loop runs: `flush`, `wait`)."""
        with self.lock:
            self._send(batch)

    def _send(self, batch: Batch) -> None:
        assert self._connection is not None
        batch.first_tag = self._tags + 1
        self._tags += len(batch.message_ids)
        self._outstanding.append(batch)
        self.used_at = time.monotonic()
        pika_private.write_frames(self._connection, batch.frames)

    def wait(self, batch: Batch, until: float) -> None:
        """Run the loop (sending what was written, reading confirms) until the batch is settled,
        the link closes or the deadline passes."""
        with self.lock:
            if self._connection is not None:
                self._run(until, lambda: batch.done or self.failure is not None)
            if batch in self._outstanding:
                self._outstanding.remove(batch)
        if not batch.done:
            batch.error = batch.error or self.failure or TimeoutError("no confirm before the deadline")

    def close(self) -> None:
        """Close politely (a link left idle, a publisher shut down), then drop what remains."""
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
            self._run(
                time.monotonic() + CLOSE_GRACE_S,
                lambda: self._connection is None or self._connection.is_closed,
            )
        self._drop()

    def drop(self) -> None:
        """Abort the connection (a peer gone silent, a deadline passed) and free the loop."""
        with self.lock:
            self._drop()

    def _drop(self) -> None:
        self._ready = False
        self.failure = self.failure or ConnectionError("the publisher's connection was dropped")
        connection, self._connection = self._connection, None
        if connection is None:
            return
        ioloop = connection.ioloop
        try:
            if not connection.is_closed:
                pika_private.abort(connection, self.failure)
                ioloop.call_later(CLOSE_GRACE_S, ioloop.stop)
                ioloop.start()
        except Exception as error:
            log.debug("Dropping a publisher connection: %r", error)
        finally:
            ioloop.close()  # its waker's socket pair

    def _run(self, until: float, done: Callable[[], bool], poll_s: float = 0.0) -> None:
        """Run the loop until `done()` (checked after each event, and every `poll_s` if given)
        or the deadline."""
        assert self._connection is not None
        if done():
            return
        self._done = done
        ioloop = self._connection.ioloop
        timers = [ioloop.call_later(max(until - time.monotonic(), 0.0), ioloop.stop)]

        def poll() -> None:
            self._wake()
            timers[1:] = [ioloop.call_later(poll_s, poll)]

        if poll_s:
            timers[1:] = [ioloop.call_later(0.0, poll)]
        try:
            ioloop.start()
        except Exception as error:  # pika's own (an assertion when a handshake is cut short)
            self.failure = self.failure or error
        finally:
            for timer in timers:
                ioloop.remove_timeout(timer)
            self._done = lambda: True

    def _wake(self) -> None:
        if self._done() and self._connection is not None:
            self._connection.ioloop.stop()

    def _channel_opened(self, channel: Channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._channel_closed)
        channel.add_on_return_callback(self._returned)
        channel.confirm_delivery(ack_nack_callback=self._confirmed, callback=self._confirming)

    def _confirming(self, _frame: Any) -> None:
        self._ready = True
        self._wake()

    def _confirmed(self, frame: Any) -> None:
        for batch in self._outstanding:
            batch.confirmed(frame.method)
        self._wake()

    def _returned(self, channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        # Unroutable (no queue took it): the ack that follows does not make it queued.
        message_id = _message_id(body)
        for batch in self._outstanding:
            if message_id in batch.message_ids:
                batch.returned.add(message_id)
                batch.error = batch.error or RuntimeError(
                    f"the broker returned a message: {method.reply_text}"
                )

    def _failed_to_open(self, connection: pika.SelectConnection, error: BaseException | str) -> None:
        self.failure = self.failure or (
            error if isinstance(error, BaseException) else ConnectionError(str(error))
        )
        connection.ioloop.stop()

    def _channel_closed(self, channel: Channel, reason: BaseException) -> None:
        self.failure = self.failure or reason
        self._ready = False
        if self._connection is not None and self._connection.is_open:
            self._connection.close()  # a link is its one channel: no use for the connection alone
        self._wake()

    def _closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        self.failure = self.failure or reason
        self._ready = False
        connection.ioloop.stop()


def _message_id(body: bytes) -> str:
    return str(json.loads(body)["message_id"])
