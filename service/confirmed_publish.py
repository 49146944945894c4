"""Publishing a batch of photo messages with publisher confirms: one round trip per batch.

`RabbitmqBroker.enqueue` publishes on pika's BlockingChannel, which in confirm mode waits for each
message's confirm before the next publish: 1000 photos, 1000 round trips. Here a batch goes out
on a connection and channel of the calling thread's own, in confirm mode, kept open between
batches (service/publisher_link.py), its frames written in one go (service/amqp_frames.py); the
confirms are collected as RabbitMQ sends them (one ack may confirm many, `multiple`). That is
RabbitMQ's "publish a batch, then wait for its confirms".

What goes on the wire is what `process_photo.send` sends: the message built by the actor, its
`encode()` as the body, exchange "", the queue's name as routing key, delivery mode 2, the
actor's broker priority, `mandatory` (an unroutable message comes back); the queue is declared
first, and the broker's middleware hears before_enqueue and after_enqueue as for a send. A photo
counts as queued only once the broker acked its message; a nack, a return, a channel or
connection that closes, or no confirm by the deadline leaves it not queued. The deadline bounds
the whole call. A kept connection that closes under a batch (the broker closed it while it was
idle, unnoticed) is replaced once, and the messages it left unconfirmed go out again on the new
one: a message may then be queued twice, which the worker tolerates (it skips a photo that is
done or held), but none is reported queued unconfirmed. A batch of a few messages goes through
`actor.send` instead, on the broker's own open channel.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import cast

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from service.amqp_frames import publish_frames
from service.publisher_link import Batch, Link
from service.publishing import BROKER_ERRORS, PublishInterrupted, one_at_a_time

log = logging.getLogger(__name__)

# The longest a batch may wait for its connection and its confirms.
DEADLINE_S = 10.0
# Batches this small go one message at a time (the broker's own channel, already open).
SMALL_BATCH = 4
# A link idle this long is closed and a new one opened: well within the heartbeat interval the
# broker proposes (60 s), whose heartbeats an idle link, its loop not running, does not send.
IDLE_S = 30.0


class ConfirmedPublisher:
    """Sends one message per photo through `actor`, a batch at a time, on `url`'s broker."""

    def __init__(self, actor: dramatiq.Actor, url: str, *, deadline_s: float = DEADLINE_S) -> None:
        self._actor = actor
        self._parameters = pika.URLParameters(url)
        self._deadline_s = deadline_s
        self._links = threading.local()  # each thread's Link (gunicorn's threads, the CLI's one)
        self._kept: set[Link] = set()  # every thread's, for `close`
        self._kept_lock = threading.Lock()

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
        encoded = [(message.encode(), message.options.get("broker_priority")) for message in messages]
        acked, failure = self._send([message.message_id for message in messages], encoded)
        for index in sorted(acked):
            broker.emit_after("enqueue", messages[index], None)
        if len(acked) < len(photo_ids):
            log.warning("The broker confirmed %d of %d messages: %s", len(acked), len(photo_ids), failure)
            queued = [photo_id for index, photo_id in enumerate(photo_ids) if index in acked]
            not_queued = [photo_id for index, photo_id in enumerate(photo_ids) if index not in acked]
            raise PublishInterrupted(queued, not_queued) from failure
        return photo_ids

    def _send(
        self, message_ids: list[str], encoded: list[tuple[bytes, int | None]]
    ) -> tuple[set[int], BaseException | None]:
        """Publish on this thread's link; return the indexes the broker queued, and what stopped
        the others. A kept link found closed under the batch is replaced once."""
        until = time.monotonic() + self._deadline_s
        link = self._kept_link()
        pending = list(range(len(message_ids)))  # indexes not settled yet
        acked: set[int] = set()
        while True:
            reused = link is not None
            if link is None:
                link = Link(self._parameters)
                try:
                    link.open(until)
                except Exception as error:
                    return acked, error
            queue = self._actor.queue_name
            frames = publish_frames(link.channel_number, queue, [encoded[i] for i in pending], link.body_max)
            batch = Batch(frames, [message_ids[i] for i in pending])
            link.publish(batch, until)
            acked |= {pending[i] for i in batch.queued()}
            if batch.returned:
                # The queue was gone (deleted by hand): declare it again before the next
                # publish, as RabbitmqBroker.enqueue does.
                cast(RabbitmqBroker, self._actor.broker).queues_pending.add(queue)
            if link.is_open and batch.done:
                self._keep(link)
                return acked, batch.error
            self._drop(link)  # closed, or past the deadline with confirms still out
            unsettled = [pending[i] for i in range(len(pending)) if i not in batch.settled]
            if not (reused and unsettled and time.monotonic() < until):
                return acked, batch.error
            log.info("The kept broker connection closed (%s); sending %d again", link.failure, len(unsettled))
            pending, link = unsettled, None

    def _kept_link(self) -> Link | None:
        """This thread's open link, if it has one worth keeping; after a fork, none (the parent's
        socket is not this process's to use)."""
        link: Link | None = getattr(self._links, "link", None)
        self._links.link = None
        if link is None or link.pid != os.getpid():
            return None
        if time.monotonic() - link.used_at > IDLE_S:
            link.close()
            self._drop(link)
            return None
        link.refresh()
        if not link.is_open:
            log.info("The kept broker connection had closed (%s); opening another", link.failure)
            self._drop(link)
            return None
        return link

    def close(self) -> None:
        """Drop every thread's kept connection (at shutdown, when no batch is out)."""
        with self._kept_lock:
            kept, self._kept = self._kept, set()
        for link in kept:
            if link.pid == os.getpid():
                link.drop()

    def _keep(self, link: Link) -> None:
        self._links.link = link
        with self._kept_lock:
            self._kept.add(link)

    def _drop(self, link: Link) -> None:
        link.drop()
        with self._kept_lock:
            self._kept.discard(link)
