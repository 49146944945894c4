"""Publishing a batch of photo messages with publisher confirms: one round trip per batch.

`RabbitmqBroker.enqueue` publishes on pika's BlockingChannel, which in confirm mode waits for each
message's confirm before the next publish: 1000 photos, 1000 round trips. Here a batch goes out
on a connection and channel of the calling thread's own, in confirm mode, kept open between
batches (publishing/link.py), its frames written in one go (publishing/frames.py); the
confirms are collected as RabbitMQ sends them (one ack may confirm many, `multiple`). That is
RabbitMQ's "publish a batch, then wait for its confirms".

What goes on the wire is what `process_photo.send` sends: the message built by the actor, its
`encode()` as the body, exchange "", the queue's name as routing key, delivery mode 2, the
actor's broker priority, `mandatory` (an unroutable message comes back); the queue is declared
first, and the broker's middleware hears before_enqueue and after_enqueue as for a send. A photo
counts as queued only once the broker acked its message; a nack, a return, a channel or
connection that closes, or no confirm by the deadline leaves it not queued. The deadline bounds
the whole call; a pipelined batch's (`finish`) counts from when its confirms are waited for. A
kept connection that closes under a batch (the broker closed it while it was idle, unnoticed) is
replaced once, and the messages it left unconfirmed go out again on the new
one: a message may then be queued twice, which the worker tolerates (it skips a photo that is
done or held), but none is reported queued unconfirmed. A batch of a few messages goes through
`actor.send` instead, on the broker's own open channel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from publishing.batch import Batch
from publishing.frames import publish_frames
from publishing.link import Link
from publishing.messages import BatchMessages
from publishing.queue_photos import BROKER_ERRORS, PublishInterrupted, one_at_a_time
from publishing.thread_links import ThreadLinks
from publishing.upkeep import PROCESS_UPKEEP, Upkeep

log = logging.getLogger(__name__)

# The longest a batch may wait for its connection and its confirms.
DEADLINE_S = 10.0
# Batches this small go one message at a time (the broker's own channel, already open).
SMALL_BATCH = 4


@dataclass
class Outgoing:
    """A batch handed to `start` and not yet to `finish`: its messages, and what became of them."""

    photo_ids: list[str]
    messages: list[dramatiq.Message] = field(default_factory=list)
    encoded: list[tuple[bytes, int | None]] = field(default_factory=list)
    until: float = 0.0  # the deadline (time.monotonic())
    link: Link | None = None  # the link its batch was written on
    batch: Batch | None = None  # on the wire, not waited for yet
    indexes: list[int] = field(default_factory=list)  # the batch's messages, as indexes of `messages`
    acked: set[int] = field(default_factory=set)
    error: BaseException | None = None
    resent: bool = False
    flush: bool = True  # write the frames out before `start` returns (not when waited for at once)


class ConfirmedPublisher:
    """Sends one message per photo through `actor`, a batch at a time, on `url`'s broker.

    `start` writes a batch and returns at once; `finish` waits for its confirms. A caller with
    many batches (process-pending) starts the next before finishing the last, so that building
    one overlaps the broker's work on the other; calling the publisher does both in turn.
    """

    def __init__(
        self,
        actor: dramatiq.Actor,
        url: str,
        *,
        deadline_s: float = DEADLINE_S,
        upkeep: Upkeep = PROCESS_UPKEEP,
    ) -> None:
        self._actor = actor
        self._messages = BatchMessages(actor)
        self._broker = cast(RabbitmqBroker, actor.broker)  # the publish below speaks AMQP
        self._deadline_s = deadline_s
        self._links = ThreadLinks(pika.URLParameters(url), upkeep)

    def __call__(self, photo_ids: list[str], /, *, on_written: Callable[[], None] | None = None) -> list[str]:
        """Publish a message per photo; return the photos, all queued. PublishInterrupted when the
        broker confirmed only some of them (or none), naming which. One deadline bounds it all.
        `on_written` runs once the batch is on the socket, while the broker works on it."""
        outgoing = self.start(photo_ids, flush=on_written is not None)
        if on_written is not None and outgoing.batch is not None:
            on_written()
        return self._finish(outgoing)

    def start(self, photo_ids: list[str], *, flush: bool = True) -> Outgoing:
        """Build the messages and write them on this thread's link, onto its socket unless `flush`
        is false (the caller waits at once, which sends them); raise nothing (`finish` will)."""
        outgoing = Outgoing(photo_ids, until=time.monotonic() + self._deadline_s, flush=flush)
        if len(photo_ids) <= SMALL_BATCH:
            return outgoing  # `finish` sends them through the actor
        outgoing.messages = self._messages.build(photo_ids)
        try:
            self._broker.declare_queue(self._actor.queue_name, ensure=True)
            self._messages.before_enqueue(outgoing.messages)
        except BROKER_ERRORS as error:
            log.warning("Publishing failed before the batch went out: %r", error)
            outgoing.error = error
            return outgoing
        encode = self._messages.encode
        outgoing.encoded = [(encode(m), m.options.get("broker_priority")) for m in outgoing.messages]
        self._write(outgoing, list(range(len(photo_ids))))
        return outgoing

    def finish(self, outgoing: Outgoing) -> list[str]:
        """Wait for the batch's confirms, up to a deadline counted from now (the caller did other
        work since `start`, a page read: not the broker's time); return its photos, all queued,
        or raise PublishInterrupted naming those queued and the others."""
        outgoing.until = max(outgoing.until, time.monotonic() + self._deadline_s)
        return self._finish(outgoing)

    def _finish(self, outgoing: Outgoing) -> list[str]:
        photo_ids = outgoing.photo_ids
        if len(photo_ids) <= SMALL_BATCH:
            return one_at_a_time(self._actor.send)(photo_ids)
        while outgoing.batch is not None and outgoing.link is not None:
            self._wait(outgoing, outgoing.link, outgoing.batch)
        self._messages.after_enqueue([outgoing.messages[index] for index in sorted(outgoing.acked)])
        if len(outgoing.acked) < len(photo_ids):
            acked, error = outgoing.acked, outgoing.error
            log.warning("The broker confirmed %d of %d messages: %s", len(acked), len(photo_ids), error)
            queued = [photo_id for index, photo_id in enumerate(photo_ids) if index in acked]
            not_queued = [photo_id for index, photo_id in enumerate(photo_ids) if index not in acked]
            raise PublishInterrupted(queued, not_queued) from error
        return photo_ids

    def _write(self, outgoing: Outgoing, indexes: list[int]) -> None:
        """Write these messages of the batch on this thread's link (opened if need be)."""
        try:
            link = self._links.get(outgoing.until)
        except Exception as error:
            outgoing.error = error
            return
        queue = self._actor.queue_name
        frames = publish_frames(
            link.channel_number, queue, [outgoing.encoded[i] for i in indexes], link.body_max
        )
        outgoing.batch = Batch(frames, [outgoing.messages[i].message_id for i in indexes])
        outgoing.link, outgoing.indexes = link, indexes
        link.send(outgoing.batch)
        if outgoing.flush:  # on the socket now, not when the caller next runs the loop
            link.flush(outgoing.until)

    def _wait(self, outgoing: Outgoing, link: Link, batch: Batch) -> None:
        """Wait for the batch on its link; send again, once, what a link closed under it left
        unconfirmed (a kept connection the broker had closed unnoticed)."""
        link.wait(batch, outgoing.until)
        outgoing.batch = None
        outgoing.acked |= {outgoing.indexes[i] for i in batch.queued()}
        outgoing.error = outgoing.error or batch.error
        if batch.returned:
            # The queue was gone (deleted by hand): declare it again before the next publish,
            # as RabbitmqBroker.enqueue does.
            self._broker.queues_pending.add(self._actor.queue_name)
        if batch.done and link.is_open:
            return
        closed = not link.is_open
        self._links.drop(link)  # closed, or past the deadline with confirms still out
        unsettled = [outgoing.indexes[i] for i in range(len(outgoing.indexes)) if i not in batch.settled]
        if closed and unsettled and not outgoing.resent and time.monotonic() < outgoing.until:
            log.info("The broker connection closed (%s); sending %d again", link.failure, len(unsettled))
            outgoing.resent, outgoing.error = True, None
            self._write(outgoing, unsettled)

    def kept(self) -> list[Link]:
        """This process's open links, every thread's."""
        return self._links.kept()

    def close(self) -> None:
        """Drop every thread's kept connection (at shutdown, when no batch is out)."""
        self._links.close()
