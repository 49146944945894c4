"""gunicorn's gthread worker, except that request heads are read by its event loop, not a thread.

gthread hands a connection to a thread as soon as one byte arrives, and that thread then blocks
reading the rest of the head: four clients sending a header byte a second (slowloris) held all
four threads and the API stopped answering. Here the worker's event loop reads each head without
blocking, into a buffer, and only a complete head goes to a thread, which parses it from the
buffer without waiting. A slow head costs a socket and a few bytes, never a thread; one not
complete within HEAD_DEADLINE_S is answered 408 and closed, one over MAX_HEAD_BYTES 431.

Request bodies are still read by the thread (the API reads at most 1 MiB), as in gthread.
Built on gunicorn 27.0.1's ThreadWorker internals (pinned in requirements.txt); the end-to-end
tests in tests/e2e/test_api_edges.py run it through the real gunicorn.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_DEADLINE_S = 10
# Far above any head this API's clients send (a bearer token and a few headers).
MAX_HEAD_BYTES = 64 * 1024
END_OF_HEAD = b"\r\n\r\n"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


class HeadBufferingWorker(ThreadWorker):
    """gthread with request heads buffered by the event loop, under a deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose head is being read, with the monotonic time it must be read by.
        self.heads: dict[TConn, float] = {}

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Refuse TLS and HTTP/2 prior knowledge: both read their first bytes past our buffer."""
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.http2_cleartext not in ("off", "upgrade"):
            raise RuntimeError("HeadBufferingWorker serves plain HTTP/1.x (and h2c upgrades) only")

    def enqueue_req(self, conn: TConn) -> None:
        """Start reading a request head (gthread calls this for each new or readable connection)."""
        # Bytes read ahead past the previous request (pipelining) start this head.
        conn.head = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        if self._head_done(conn):
            self._dispatch(conn)
        else:
            self.heads[conn] = time.monotonic() + HEAD_DEADLINE_S
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_head_readable, conn))

    def on_head_readable(self, conn: TConn, _sock: object) -> None:
        """Read what arrived of a head (in the event loop, without blocking)."""
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before finishing its request
            self._stop_reading(conn)
            self._drop(conn)
            return
        conn.head += data
        if self._head_done(conn):
            self._stop_reading(conn)
            self._dispatch(conn)

    @staticmethod
    def _head_done(conn: TConn) -> bool:
        """Whether the head is complete, or already too large to be."""
        return END_OF_HEAD in conn.head or len(conn.head) > MAX_HEAD_BYTES

    def _dispatch(self, conn: TConn) -> None:
        """Hand a complete head to a thread, or answer 431 to one over the cap."""
        if END_OF_HEAD not in conn.head[: MAX_HEAD_BYTES + len(END_OF_HEAD)]:
            self._refuse(conn, HEAD_TOO_LARGE)
            return
        conn.data_ready = True  # gthread's own wait for a first byte is over
        super().enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        """In a thread: put the buffered head back in front of the socket, then serve as gthread."""
        head, conn.head = getattr(conn, "head", b""), b""
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(head)
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Besides gthread's own: answer heads past their deadline 408; all of them when stopping."""
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self.heads.items()):
            # Stopping: no request has started on these, so they need not delay the exit.
            if deadline <= now or not self.alive:
                if self.alive:
                    self.log.info(
                        "Closing %s: no complete request head in %s s", conn.client, HEAD_DEADLINE_S
                    )
                self._stop_reading(conn)
                self._refuse(conn, REQUEST_TIMEOUT)

    def _stop_reading(self, conn: TConn) -> None:
        """Take the connection off the event loop and forget its deadline."""
        self.poller.unregister(conn.sock)
        del self.heads[conn]

    def _refuse(self, conn: TConn, answer: bytes) -> None:
        """Send a short error answer if the socket takes it at once, then close."""
        with contextlib.suppress(OSError):
            conn.sock.send(answer)
        self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        """Close a connection that has no request in a thread."""
        self.nr_conns -= 1
        conn.close()
