"""Publishing a batch of photo messages with publisher confirms: one round trip per batch.

`RabbitmqBroker.enqueue` publishes on pika's BlockingChannel, which in confirm mode waits for each
message's confirm before the next publish: 1000 photos, 1000 round trips. Here a batch goes out
on a connection and channel of its own (pika's SelectConnection, whose I/O loop runs in the
calling thread) in confirm mode, and the confirms are collected as RabbitMQ sends them (one ack
may confirm many, `multiple`). That is RabbitMQ's "publish a batch, then wait for its confirms".

What goes on the wire is what `process_photo.send` sends: the message built by the actor, its
`encode()` as the body, exchange "", the queue's name as routing key, delivery mode 2, the
actor's broker priority, `mandatory` (an unroutable message comes back); the queue is declared
first, and the broker's middleware hears before_enqueue and after_enqueue as for a send. A photo
counts as queued only once the broker acked its message; a nack, a return, a channel or
connection that closes, or no confirm by the deadline leaves it not queued. The deadline bounds
the whole call: a connection that will not close in time is dropped. A batch of a few messages
goes through `actor.send` instead, on the broker's own open channel.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pika.channel import Channel
from pika.spec import Basic

from service.publishing import BROKER_ERRORS, PublishInterrupted, one_at_a_time

log = logging.getLogger(__name__)

# The longest a batch may wait for its connection and its confirms.
DEADLINE_S = 10.0
# After the deadline, how long a closing connection may take before it is dropped.
CLOSE_GRACE_S = 1.0
# Batches this small go one message at a time (the broker's own channel, already open): a
# connection of their own would cost more than the round trips it saves.
SMALL_BATCH = 4


class ConfirmedPublisher:
    """Sends one message per photo through `actor`, a batch at a time, on `url`'s broker."""

    def __init__(self, actor: dramatiq.Actor, url: str, *, deadline_s: float = DEADLINE_S) -> None:
        self._actor = actor
        self._parameters = pika.URLParameters(url)
        self._deadline_s = deadline_s

    def __call__(self, photo_ids: list[str]) -> list[str]:
        """Publish a message per photo; return the photos, all queued. PublishInterrupted when the
        broker confirmed only some of them (or none), naming which."""
        if len(photo_ids) <= SMALL_BATCH:
            return one_at_a_time(self._actor.send)(photo_ids)
        broker = cast(RabbitmqBroker, self._actor.broker)  # the publish below speaks AMQP
        messages = [self._actor.message(photo_id) for photo_id in photo_ids]
        try:
            broker.declare_queue(self._actor.queue_name, ensure=True)
            for message in messages:
                broker.emit_before("enqueue", message, None)
        except BROKER_ERRORS as error:
            log.warning("Publishing failed before the batch went out: %r", error)
            raise PublishInterrupted([], photo_ids) from error
        batch = _Batch(self._parameters, self._actor.queue_name, messages, self._deadline_s)
        acked = batch.run()
        if batch.returned:
            # The queue was gone (deleted by hand): declare it again before the next publish,
            # as RabbitmqBroker.enqueue does.
            broker.queues_pending.add(self._actor.queue_name)
        for index in sorted(acked):
            broker.emit_after("enqueue", messages[index], None)
        queued = [photo_id for index, photo_id in enumerate(photo_ids) if index in acked]
        if len(queued) < len(photo_ids):
            log.warning(
                "The broker confirmed %d of %d messages: %s", len(queued), len(photo_ids), batch.error
            )
            not_queued = [photo_id for index, photo_id in enumerate(photo_ids) if index not in acked]
            raise PublishInterrupted(queued, not_queued) from batch.error
        return queued


class _Batch:
    """One connection, one channel in confirm mode, the batch's messages, their confirms."""

    def __init__(
        self, parameters: pika.URLParameters, queue: str, messages: list[dramatiq.Message], deadline_s: float
    ) -> None:
        self._parameters = parameters
        self._queue = queue
        self._messages = messages
        self._deadline_s = deadline_s
        self._acked: set[int] = set()  # indexes into messages
        self._settled: set[int] = set()  # acked or nacked
        self._floor = 0  # every index below it is settled
        self.returned: set[str] = set()  # message ids the broker returned (unroutable)
        self.error: BaseException | None = None
        self._connection: pika.SelectConnection | None = None

    def run(self) -> set[int]:
        """Publish and wait for the confirms (or the deadline); return the indexes acked."""
        self._connection = pika.SelectConnection(
            self._parameters,
            on_open_callback=self._opened,
            on_open_error_callback=self._failed_to_open,
            on_close_callback=self._closed,
        )
        ioloop = self._connection.ioloop
        ioloop.call_later(self._deadline_s, self._too_late)
        try:
            ioloop.start()
        except Exception as error:  # pika's own (an assertion when a handshake is cut short)
            self.error = self.error or error
        finally:
            if not self._connection.is_closed:
                self._drop(ioloop)
            ioloop.close()  # its waker's socket pair
        ids = [message.message_id for message in self._messages]
        return {index for index in self._acked if ids[index] not in self.returned}

    def _drop(self, ioloop: Any) -> None:
        """Abort a connection that did not close (a peer gone silent, a handshake cut short),
        and let the loop run until pika has let go of its socket."""
        assert self._connection is not None
        try:
            self._connection._adapter_disconnect_stream()  # pika has no public abort
            ioloop.call_later(CLOSE_GRACE_S, ioloop.stop)
            ioloop.start()
        except Exception as error:
            log.debug("Dropping a batch's connection: %r", error)

    def _opened(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._channel_opened)

    def _channel_opened(self, channel: Channel) -> None:
        channel.add_on_close_callback(self._channel_closed)
        channel.add_on_return_callback(self._returned_message)
        channel.confirm_delivery(ack_nack_callback=self._confirmed, callback=lambda _: self._publish(channel))

    def _publish(self, channel: Channel) -> None:
        for message in self._messages:
            channel.basic_publish(
                exchange="",
                routing_key=self._queue,
                body=message.encode(),
                properties=pika.BasicProperties(
                    delivery_mode=2, priority=message.options.get("broker_priority")
                ),
                mandatory=True,
            )

    def _confirmed(self, frame: Any) -> None:
        method = frame.method
        # Delivery tags count this channel's publishes from 1: tag n confirms message n - 1, and
        # with `multiple` every message up to it not confirmed yet.
        last = method.delivery_tag - 1
        for index in range(self._floor, last + 1) if method.multiple else (last,):
            if index in self._settled:
                continue
            self._settled.add(index)
            if isinstance(method, Basic.Ack):
                self._acked.add(index)
            else:
                self.error = self.error or RuntimeError(f"the broker refused (nack) message {index + 1}")
        while self._floor in self._settled:
            self._floor += 1
        if self._floor == len(self._messages):
            self._finish()

    def _returned_message(self, channel: Channel, method: Any, properties: Any, body: bytes) -> None:
        # Unroutable (no queue took it): the ack that follows does not make it queued.
        self.returned.add(json.loads(body)["message_id"])
        self.error = self.error or RuntimeError(f"the broker returned a message: {method.reply_text}")

    def _too_late(self) -> None:
        self.error = self.error or TimeoutError(f"no confirm within {self._deadline_s} s")
        assert self._connection is not None
        if not self._connection.is_open:  # still opening: closing it would trip pika; stop
            self._connection.ioloop.stop()
            return
        self._finish()
        # A peer that went silent never answers the close: stop waiting for it soon.
        self._connection.ioloop.call_later(CLOSE_GRACE_S, self._connection.ioloop.stop)

    def _finish(self) -> None:
        """Close the connection; its close callback stops the loop."""
        assert self._connection is not None
        if self._connection.is_closed or self._connection.is_closing:
            return
        try:
            self._connection.close()
        except pika.exceptions.ConnectionWrongStateError:  # not open yet and cannot be closed
            self._connection.ioloop.stop()

    def _failed_to_open(self, connection: pika.SelectConnection, error: BaseException | str) -> None:
        self.error = self.error or (
            error if isinstance(error, BaseException) else ConnectionError(str(error))
        )
        connection.ioloop.stop()

    def _channel_closed(self, channel: Channel, reason: BaseException) -> None:
        self.error = self.error or reason
        self._finish()

    def _closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        if len(self._settled) < len(self._messages):
            self.error = self.error or reason
        connection.ioloop.stop()
