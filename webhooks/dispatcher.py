"""The delivery loop of a worker process: a thread that claims due events and hands them to a
few sender threads, records what happened, and prunes old events.

It runs beside the photo threads and shares nothing with them but the connection pool: its
own thread, its own connection, WEBHOOK_CONCURRENCY sender threads, each delivery cut at
WEBHOOK_TIMEOUT_S. A receiver that is slow, refuses or never answers only holds these threads;
thumbnailing goes on; one that keeps failing opens the breaker (breaker.py), and the loop
stops claiming until a probe gets through. New events are found by polling the due index every
POLL_S.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import NamedTuple
from uuid import UUID

from peewee import Database

from config import Config
from webhooks import outbox
from webhooks.breaker import Breaker
from webhooks.sender import Failure, WebhookSender

log = logging.getLogger(__name__)

POLL_S = 1.0
PRUNE_EVERY_S = 60.0
# A claimed event is due again this long after its delivery's deadline, if nobody recorded it
# (its worker died): the delivery itself is cut at WEBHOOK_TIMEOUT_S.
LEASE_MARGIN_S = 5.0


class Result(NamedTuple):
    """What one delivery came to: None for delivered, else why it failed."""

    event: outbox.Event
    failure: Failure | None


class WebhookDispatcher(threading.Thread):
    """Delivers the outbox's events to WEBHOOK_URL (or, with none set, only prunes it)."""

    def __init__(self, config: Config, db: Database, *, on_outcome: Callable[[str], None]) -> None:
        super().__init__(name="webhooks", daemon=True)
        self._config, self._db, self._on_outcome = config, db, on_outcome
        self._sender = (
            WebhookSender(
                config.webhook_url,
                config.webhook_secret or "",
                timeout_s=config.webhook_timeout_s,
                allow_private=config.allow_private_sources,
                public_base_url=config.thumbs_public_base_url,
            )
            if config.webhook_url
            else None
        )
        self._work: queue.Queue[outbox.Event | None] = queue.Queue()
        self._breaker = Breaker(max_pause_s=config.webhook_max_backoff_s)
        self._results: queue.Queue[Result] = queue.Queue()
        self._unrecorded: collections.deque[Result] = collections.deque()
        self._in_flight: dict[UUID, outbox.Event] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._pruned_at = 0.0
        self._senders = [
            threading.Thread(target=self._deliver, name=f"webhook-sender-{n}", daemon=True)
            for n in range(config.webhook_concurrency if self._sender else 0)
        ]

    def start(self) -> None:
        """Start the loop and its sender threads."""
        for sender in self._senders:
            sender.start()
        super().start()

    def stop(self, *, grace_s: float = 1.0) -> None:
        """Stop: cut deliveries in flight, make their events due again, and return within about `grace_s`."""
        self._stopped.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.interrupt()
        for _ in self._senders:
            self._work.put(None)
        self.join(grace_s)

    def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            self._wake.clear()
            # With no URL there is only the prune to do, once a minute.
            wait_s = POLL_S if self._sender is not None else PRUNE_EVERY_S
            try:
                with self._db.connection_context():
                    self._step()
                failures = 0
            except Exception:
                # The database is away, most likely: wait longer each time, up to a minute.
                failures += 1
                wait_s = min(PRUNE_EVERY_S, POLL_S * 2**failures)
                log.exception("A webhook delivery pass failed; the next one runs in %.0f s.", wait_s)
            if failures:
                self._stopped.wait(wait_s)
            else:
                self._wake.wait(wait_s)
        self._finish()

    def _step(self) -> None:
        """Record the deliveries that ended, send more if there is room, prune now and then."""
        self._record()
        room = self._breaker.room(len(self._senders) - len(self._in_flight))
        if room > 0 and not self._stopped.is_set():
            lease_s = 2 * self._config.webhook_timeout_s + LEASE_MARGIN_S
            events = outbox.claim_due(self._db, limit=room, lease_s=lease_s)
            self._breaker.claimed([event.id for event in events])
            for event in events:
                self._in_flight[event.id] = event
                self._work.put(event)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            pruned = outbox.prune(
                self._db, retention_s=self._config.webhook_retention_s, pending_too=self._sender is None
            )
            self._pruned_at = time.monotonic()
            if pruned:
                log.info("Deleted %d webhook events older than the retention time.", pruned)

    def _record(self) -> None:
        """Write down each delivery that ended, oldest first.

        A result whose write fails (the database away) stays first in line, its event still
        counted in flight, and is written on the next pass, after the loop's backoff; writing one
        twice is harmless (the claim's token no longer matches). One never written (the worker
        killed) leaves its event due again when the lease runs out.
        """
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            self._breaker.record(result.event.id, outage=bool(result.failure and result.failure.outage))
            self._unrecorded.append(result)
        while self._unrecorded:
            self._write(self._unrecorded[0])
            self._in_flight.pop(self._unrecorded.popleft().event.id, None)

    def _write(self, result: Result) -> None:
        """Record one delivery's outcome in the outbox, and count it if it was ours to record.

        Counted once each: delivered, failed (the event stays pending, to retry) or dead (given up);
        nothing when the claim was no longer ours (another worker's result stands).
        """
        event, failure = result
        if failure is None:
            if outbox.delivered(self._db, event):
                self._on_outcome("delivered")
            return
        config = self._config
        state = outbox.failed(
            self._db,
            event,
            failure.reason,
            give_up_after_s=config.webhook_give_up_after_s,
            max_backoff_s=config.webhook_max_backoff_s,
        )
        if state == outbox.PENDING:
            self._on_outcome("failed")
        elif state == outbox.DEAD:
            self._on_outcome("dead")
            log.warning("Webhook event %s (%s) is dead: %s", event.id, event.type, failure.reason)

    def _deliver(self) -> None:
        """A sender thread: deliver each event handed over, until told to stop."""
        assert self._sender is not None
        while (event := self._work.get()) is not None:
            if self._stopped.is_set():
                continue  # not sent: released when the loop ends
            failure = self._sender.send(event)
            if failure is not None and self._stopped.is_set():
                continue  # cut by our own stop, not the receiver's failure: released at the end
            self._results.put(Result(event, failure))
            self._wake.set()

    def _finish(self) -> None:
        """At stop: record what ended, and make the events still in flight due again at once."""
        try:
            with self._db.connection_context():
                self._record()
                outbox.release(self._db, list(self._in_flight.values()))
        except Exception:
            log.exception(
                "Could not release the webhook events in flight; they are due when their lease ends."
            )
        if self._sender is not None:
            self._sender.close()
