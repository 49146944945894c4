"""Cutting a download's socket from another thread: `SocketDeadline` shuts down the socket in use
when the download's deadline passes, or at once when the worker stops (`Downloads.interrupt_all`).

Socket timeouts bound each read, not their sum: a source sending one byte a second, in the
headers or in the body, never trips a 10 s read timeout; and a blocked read cannot be given a
new timeout from outside, but shutting its socket down wakes it at once with EOF.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class SocketDeadline:
    """Started with a number of seconds; the sockets of the download are attached as it uses them."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._expired = self._interrupted = self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True  # never keeps the process alive
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        """Watch `sock` from now on; shut it down at once if the deadline passed or it was interrupted."""
        with self._lock:
            if not self._done:
                self._sock = sock
                if self._expired or self._interrupted:
                    shut(sock)

    def cancel(self) -> bool:
        """Stop watching and say whether the deadline passed; after this no socket is touched."""
        self._timer.cancel()
        # Under the lock, so a timer firing right now cannot cut a socket already back in the pool.
        with self._lock:
            self._done, self._sock = True, None
            return self._expired

    @property
    def interrupted(self) -> bool:
        """Whether `interrupt` cut the download before it finished."""
        return self._interrupted

    def interrupt(self) -> None:
        """Cut the download now, whatever its deadline, unless it has finished."""
        with self._lock:
            if not self._done:
                self._interrupted = True
                if self._sock is not None:
                    shut(self._sock)

    def _expire(self) -> None:
        """Run by the timer: mark the download late and cut its socket, unless it has finished."""
        with self._lock:
            if not self._done:
                self._expired = True
                if self._sock is not None:
                    shut(self._sock)


class Downloads:
    """The downloads running now, one per thread: each thread's sockets go to its own download's
    deadline, and a worker that stops can cut them all at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[SocketDeadline] = set()
        self._stopping = False
        self._local = threading.local()

    def start(self, seconds: float) -> SocketDeadline:
        """The deadline of this thread's download, starting now; cut at once if the worker is stopping."""
        watch = self._local.watch = SocketDeadline(seconds)
        with self._lock:  # interrupt_all either sees this download running, or it is stopping here
            self._running.add(watch)
            stopping = self._stopping
        if stopping:
            watch.interrupt()
        return watch

    def attach(self, sock: socket.socket) -> None:
        """Hand a socket a request is about to use to this thread's running download."""
        if (watch := getattr(self._local, "watch", None)) is not None:
            watch.attach(sock)

    def finish(self, watch: SocketDeadline) -> bool:
        """Stop watching the download; say whether its deadline passed. Always call it: a timer
        firing later must not cut a socket that is back in the pool."""
        with self._lock:
            self._running.discard(watch)
        return watch.cancel()

    def interrupt_all(self) -> None:
        """Cut every download running now, and every one started from now on."""
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for watch in running:
            watch.interrupt()


def shut(sock: socket.socket) -> None:
    """Shut the connection down below TLS, so that a reader blocked on it sees EOF at once."""
    # The plain-socket method: SSLSocket.shutdown would drop its TLS object under the reader.
    with suppress(OSError):  # already closed: nothing left to cut
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
