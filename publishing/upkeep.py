"""Keeping the publisher's idle broker links alive, and closing them when the process is done.

A Link's loop runs only inside a call (publishing/link.py), so a link left idle sends no
heartbeats and reads none: RabbitMQ closes it after two missed heartbeats (config.py asks for
30 s) and logs an error, and the next batch pays for finding it dead. One daemon thread per
process runs each idle link's loop briefly, under the link's lock, several times per heartbeat
interval: that reads the broker's heartbeats, sends ours, and notices a close. A link whose
owner holds the lock is running its own loop and is skipped. The alternative, closing idle links
before the interval runs out, would also need a thread (nothing else runs while idle) and cost a
handshake after every quiet period, so the links are kept instead.

`Upkeep.close_all` closes every publisher's links of this process: gunicorn's worker_exit hook
calls it on `PROCESS_UPKEEP`, the one every publisher of the process uses unless given another.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

from publishing.link import Link

log = logging.getLogger(__name__)

# Runs per negotiated heartbeat interval: pika sends a heartbeat when its timer is due and the
# loop runs, so several runs per interval keep ours well within the broker's two.
RUNS_PER_HEARTBEAT = 4
# How long the thread sleeps when no link has a heartbeat (it wakes when one is watched).
IDLE_WAIT_S = 60.0


class Keeps(Protocol):
    """What the thread needs of a publisher's links (publishing.thread_links.ThreadLinks)."""

    def kept(self) -> list[Link]: ...

    def close(self) -> None: ...


class Upkeep:
    """The publishers whose idle links one daemon thread keeps alive, in one process.

    The thread is this process's: after a fork the parent's is not running in the child, so
    the first `watch` in a new pid starts one there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._publishers: weakref.WeakSet[Keeps] = weakref.WeakSet()
        self._wake = threading.Event()
        self._running_in = 0  # the pid whose thread runs

    def watch(self, publisher: Keeps) -> None:
        """Keep `publisher`'s links alive from now on (called when it opens one)."""
        with self._lock:
            self._publishers.add(publisher)
            if self._running_in != os.getpid():
                self._running_in = os.getpid()
                threading.Thread(target=self._keep, name="publisher-upkeep", daemon=True).start()
        self._wake.set()  # a new link may have a shorter heartbeat than the thread is waiting for

    def close_all(self) -> None:
        """Close every watched publisher's links of this process (at exit, with no batch out)."""
        with self._lock:
            publishers = list(self._publishers)
        for publisher in publishers:
            publisher.close()

    def _keep(self) -> None:
        while True:
            self._wake.wait(_interval(self._links()))
            self._wake.clear()
            for link in self._links():
                if not link.lock.acquire(blocking=False):
                    continue  # its owner is running the loop
                try:
                    if link.is_open:
                        link.refresh()
                except Exception as error:  # the owner finds the link closed and replaces it
                    log.debug("Keeping a publisher link alive: %r", error)
                finally:
                    link.lock.release()

    def _links(self) -> list[Link]:
        with self._lock:
            publishers = list(self._publishers)
        return [link for publisher in publishers for link in publisher.kept()]


def _interval(links: list[Link]) -> float:
    heartbeats = [link.heartbeat_s for link in links if link.heartbeat_s > 0]
    return min(heartbeats) / RUNS_PER_HEARTBEAT if heartbeats else IDLE_WAIT_S


# The process's: every ConfirmedPublisher of a process shares one thread (by default), and
# gunicorn's worker_exit hook, which holds no reference to the app's publisher, closes them here.
PROCESS_UPKEEP = Upkeep()
