"""Each thread's kept Link (gunicorn's threads, a command's one), per process: opened on first
use, replaced when the broker closed it, kept alive while idle by publishing/upkeep.py."""

from __future__ import annotations

import logging
import os
import threading

import pika

from publishing.link import Link
from publishing.upkeep import Upkeep

log = logging.getLogger(__name__)


class ThreadLinks:
    """The links of one publisher: one per thread, all of them closable at once."""

    def __init__(self, parameters: pika.URLParameters, upkeep: Upkeep) -> None:
        self._parameters = parameters
        self._upkeep = upkeep
        self._local = threading.local()
        self._kept: set[Link] = set()  # every thread's, for `close`
        self._lock = threading.Lock()

    def get(self, until: float) -> Link:
        """This thread's open link, or a new one. After a fork, the parent's is not this
        process's to use."""
        link: Link | None = getattr(self._local, "link", None)
        if link is not None and link.pid != os.getpid():
            link = None
        if link is not None:
            link.refresh()
            if not link.is_open:
                log.info("The kept broker connection had closed (%s); opening another", link.failure)
                self.drop(link)
                link = None
        if link is None:
            link = Link(self._parameters)
            link.open(until)
            self._local.link = link
            with self._lock:
                self._kept.add(link)
            self._upkeep.watch(self)
        return link

    def kept(self) -> list[Link]:
        """This process's open links, every thread's."""
        with self._lock:
            return [link for link in self._kept if link.pid == os.getpid()]

    def close(self) -> None:
        """Close every thread's link (at shutdown, when no batch is out)."""
        with self._lock:
            kept, self._kept = self._kept, set()
        for link in kept:
            if link.pid == os.getpid():
                link.close()

    def drop(self, link: Link) -> None:
        """Abort `link` and forget it (closed under a batch, or past a deadline)."""
        link.drop()
        if getattr(self._local, "link", None) is link:
            self._local.link = None
        with self._lock:
            self._kept.discard(link)
