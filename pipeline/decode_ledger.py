"""One decode budget for all the threads of a worker process, not one each.

The decode budget (pipeline/decode_budget.py) refuses an image that alone would take more than
MAX_DECODE_MB to thumbnail. With several worker threads each on a large photo, a process would
take up to that much per thread: 4 threads, each on a 12 MP RGBA PNG, took a process to 309 MB
(bench/remote.py), past the 300 MB the default budget keeps one thread under. So a thread reserves
its image's estimate in the process's ledger before decoding and gives it back once the thumbnail
is made; an image that does not fit beside those being decoded waits for them, in arrival order.
One image alone always enters (the budget refused any larger first), so every wait ends.

The ledger alone is not enough: glibc gives each thread an arena of its own and, once a large
block was freed, serves later large blocks from the arenas, which keep freed memory. 8 threads
on a 12 MP RGBA PNG each peaked at 550 MB in one process with or without the ledger; with it and
`return_freed_memory()` (a fixed mmap threshold: every block of 1 MiB or more is mapped, and
unmapped when freed), 241 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

# Waits are short and repeated: Dramatiq's time limit raises in a thread between bytecodes, never
# inside a lock's wait, so a thread must wake now and then to be interruptible.
_WAKE_S = 0.1
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter; setting it also stops its dynamic adjustment
MMAP_THRESHOLD = 1 << 20  # a 12 MP JPEG's pixels at 1/8 scale are ~0.7 MB; decoded images are larger


def return_freed_memory() -> bool:
    """Make this process give freed image memory back at once (glibc); False where it cannot."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


class DecodeLedger:
    """The bytes the process's threads are decoding now, against a limit they share."""

    def __init__(self) -> None:
        self._in_use = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Bytes reserved now."""
        with self._changed:
            return self._in_use

    @property
    def waiting(self) -> int:
        """Threads waiting for their reservation to fit."""
        with self._changed:
            return len(self._queue)

    @contextmanager
    def reserve(self, nbytes: int, *, limit: int) -> Iterator[None]:
        """Hold `nbytes` of `limit` for the block, first waiting until they fit beside the others'."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or (self._in_use and self._in_use + nbytes > limit):
                    self._changed.wait(timeout=_WAKE_S)
            finally:
                self._queue.remove(ticket)  # entered, or interrupted while waiting
                self._changed.notify_all()  # the next in line may fit too
            self._in_use += nbytes
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= nbytes
                self._changed.notify_all()
