"""Keeping the publisher's idle broker links alive, and closing them when the process is done.

A Link's loop runs only inside a call (service/publisher_link.py), so a link left idle sends no
heartbeats and reads none: RabbitMQ closes it after two missed heartbeats (config.py asks for
30 s) and logs an error, and the next batch pays for finding it dead. One daemon thread per
process runs each idle link's loop briefly, under the link's lock, several times per heartbeat
interval: that reads the broker's heartbeats, sends ours, and notices a close. A link whose
owner holds the lock is running its own loop and is skipped. The alternative, closing idle links
before the interval runs out, would also need a thread (nothing else runs while idle) and cost a
handshake after every quiet period, so the links are kept instead.

`close_all` closes every publisher's links of this process: gunicorn's worker_exit hook calls it.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

from service.publisher_link import Link

log = logging.getLogger(__name__)

# Runs per negotiated heartbeat interval: pika sends a heartbeat when its timer is due and the
# loop runs, so several runs per interval keep ours well within the broker's two.
RUNS_PER_HEARTBEAT = 4
# How long the thread sleeps when no link has a heartbeat (it wakes when one is watched).
IDLE_WAIT_S = 60.0


class Keeps(Protocol):
    """What the thread needs of a publisher (service.confirmed_publish.ConfirmedPublisher)."""

    def kept(self) -> list[Link]: ...

    def close(self) -> None: ...


_lock = threading.Lock()
_publishers: weakref.WeakSet[Keeps] = weakref.WeakSet()
_wake = threading.Event()
_started_in = 0  # the pid whose thread runs (after a fork, the parent's is not running here)


def watch(publisher: Keeps) -> None:
    """Keep `publisher`'s links alive from now on (called when it opens one)."""
    global _started_in
    with _lock:
        _publishers.add(publisher)
        if _started_in != os.getpid():
            _started_in = os.getpid()
            threading.Thread(target=_keep, name="publisher-upkeep", daemon=True).start()
    _wake.set()  # a new link may have a shorter heartbeat than the thread is waiting for


def close_all() -> None:
    """Close every watched publisher's links of this process (at exit, with no batch out)."""
    with _lock:
        publishers = list(_publishers)
    for publisher in publishers:
        publisher.close()


def _keep() -> None:
    while True:
        _wake.wait(_interval(_links()))
        _wake.clear()
        for link in _links():
            if not link.lock.acquire(blocking=False):
                continue  # its owner is running the loop
            try:
                if link.is_open:
                    link.refresh()
            except Exception as error:  # the owner finds the link closed and replaces it
                log.debug("Keeping a publisher link alive: %r", error)
            finally:
                link.lock.release()


def _links() -> list[Link]:
    with _lock:
        publishers = list(_publishers)
    return [link for publisher in publishers for link in publisher.kept()]


def _interval(links: list[Link]) -> float:
    heartbeats = [link.heartbeat_s for link in links if link.heartbeat_s > 0]
    return min(heartbeats) / RUNS_PER_HEARTBEAT if heartbeats else IDLE_WAIT_S
