"""Cutting a download's socket from another thread: `SocketDeadline` shuts down the socket in use
when the download's deadline passes.

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
        self._expired = self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True  # never keeps the process alive
        self._timer.start()

    def attach(self, sock: socket.socket) -> None:
        """Watch `sock` from now on; shut it down at once if the deadline has passed already."""
        with self._lock:
            if not self._done:
                self._sock = sock
                if self._expired:
                    shut(sock)

    def cancel(self) -> bool:
        """Stop watching and say whether the deadline passed; after this no socket is touched."""
        self._timer.cancel()
        # Under the lock, so a timer firing right now cannot cut a socket already back in the pool.
        with self._lock:
            self._done, self._sock = True, None
            return self._expired

    def _expire(self) -> None:
        """Run by the timer: mark the download late and cut its socket, unless it has finished."""
        with self._lock:
            if not self._done:
                self._expired = True
                if self._sock is not None:
                    shut(self._sock)


def shut(sock: socket.socket) -> None:
    """Shut the connection down below TLS, so that a reader blocked on it sees EOF at once."""
    # The plain-socket method: SSLSocket.shutdown would drop its TLS object under the reader.
    with suppress(OSError):  # already closed: nothing left to cut
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
