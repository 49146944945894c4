"""gunicorn's gthread worker, except that requests are read whole by its event loop, not a thread.

gthread hands a connection to a thread as soon as one byte arrives, and that thread then blocks
reading the rest: four clients sending a header byte a second (slowloris), or a body byte a
second, held all four threads and the API stopped answering. Here the worker's event loop reads
each request, head and body, without blocking, into a buffer (api/http_framing.py says where
it ends), and only a whole request goes to a thread, which parses it from the buffer without
waiting. A slow client costs a socket and its bytes, never a thread. A head not complete within
HEAD_DEADLINE_S, or a body within BODY_DEADLINE_S after its head, is answered 408 and closed;
a head over MAX_HEAD_BYTES 431. A body over 3 MiB (the most any route accepts) goes to a thread
at that point, for the API to refuse (413) without reading it. All requests being read hold at most MAX_BUFFERED_BYTES: past
it, the largest are answered 503 (not given to a thread, which they could hold), so that clients
holding big bodies back cannot starve the small requests of everyone else.

Built on gunicorn's ThreadWorker internals, the one module that uses them: gunicorn has no public
hook to read a request before a thread takes it, and stock gthread, as fast (bench/api_load.py:
0.99x our worker's req/s), lets slow clients hold every thread. TESTED_GUNICORN names the
releases those internals were read against; tests/unit/test_gunicorn_private.py fails on any
other, and on a change to what is used here; the end-to-end tests in tests/e2e/test_api_edges.py
run it through the real gunicorn.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from api.http_framing import END_OF_HEAD, MAX_BODY_BYTES, RequestFraming

# The gunicorn releases whose ThreadWorker and TConn this module was read against.
TESTED_GUNICORN = ("27.0.1",)
HEAD_DEADLINE_S = 10
# 3 MiB (the largest body, POST /photos) in 30 s is 105 KB/s: slower than that, a client is
# holding the socket, not sending.
BODY_DEADLINE_S = 30
# Far above any head this API's clients send (a bearer token and a few headers).
MAX_HEAD_BYTES = 64 * 1024
RECV_BYTES = 64 * 1024
# Per worker process: 32 whole 1 MiB bodies at once (10 of 3 MiB), far more than this API's
# clients send.
MAX_BUFFERED_BYTES = 32 * 1024 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"


class RequestBufferingWorker(ThreadWorker):
    """gthread with each request read whole by the event loop, under deadlines, before a thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose request is being read, with the monotonic time it must be read by,
        # and the bytes their buffers hold.
        self.waiting: dict[TConn, float] = {}
        self.buffered = 0

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Refuse TLS and HTTP/2 prior knowledge: both read their first bytes past our buffer."""
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.http2_cleartext not in ("off", "upgrade"):
            raise RuntimeError("RequestBufferingWorker serves plain HTTP/1.x (and h2c upgrades) only")

    def enqueue_req(self, conn: TConn) -> None:
        """Start reading a request (gthread calls this for each new or readable connection)."""
        # Bytes read ahead past the previous request (pipelining) start this one.
        conn.buffer = bytearray(conn.parser.unreader.take_buffered() if conn.parser is not None else b"")
        conn.framing = RequestFraming()
        conn.body_started = False
        conn.polled = False
        if conn.sock.getblocking():  # a new connection; a kept-alive one is non-blocking already
            conn.sock.setblocking(False)
        self.buffered += len(conn.buffer)
        self.waiting[conn] = time.monotonic() + HEAD_DEADLINE_S
        self._progress(conn)
        # A kept-alive connection comes here because it turned readable: its request is most
        # often whole in the socket already, and goes to a thread now, without a turn of the
        # event loop (and the poller's register and unregister) for it.
        if conn in self.waiting:
            self.on_readable(conn, conn.sock)
        if conn in self.waiting:
            conn.polled = True
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_readable, conn))

    def on_readable(self, conn: TConn, _sock: object) -> None:
        """Read what arrived of a request (in the event loop, without blocking)."""
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before finishing its request
            self._stop_waiting(conn)
            self._drop(conn)
            return
        conn.buffer += data
        self.buffered += len(data)
        if self.buffered > MAX_BUFFERED_BYTES:
            self._shed()
        if conn in self.waiting:
            self._progress(conn)

    def _shed(self) -> None:
        """Answer 503 to the requests holding the most bytes until the rest fit in the budget."""
        for conn in sorted(self.waiting, key=lambda waiting: len(waiting.buffer), reverse=True):
            if self.buffered <= MAX_BUFFERED_BYTES:
                return
            self.log.warning("Refusing %s: requests being read hold %s bytes", conn.client, self.buffered)
            self._stop_waiting(conn)
            self._refuse(conn, BUSY)

    def _progress(self, conn: TConn) -> None:
        """Hand the request to a thread once it is whole; refuse a head too large; else wait."""
        end, head_end = conn.framing.end(conn.buffer), conn.framing.head_end
        if head_end is None and len(conn.buffer) <= MAX_HEAD_BYTES:
            return
        if head_end is None or head_end > MAX_HEAD_BYTES + len(END_OF_HEAD):
            self._stop_waiting(conn)
            self._refuse(conn, HEAD_TOO_LARGE)
            return
        if end is None and len(conn.buffer) <= head_end + MAX_BODY_BYTES:
            if not conn.body_started:  # the head is in: the body has a deadline of its own
                conn.body_started = True
                self.waiting[conn] = time.monotonic() + BODY_DEADLINE_S
                if conn.framing.expects_continue:
                    with contextlib.suppress(OSError):
                        conn.sock.send(CONTINUE)
            return
        self._stop_waiting(conn)
        conn.data_ready = True  # gthread's own wait for a first byte is over
        super().enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        """In a thread: put the buffered request back in front of the socket, then serve as gthread."""
        buffer, conn.buffer = bytes(getattr(conn, "buffer", b"")), bytearray()
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(buffer)
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Besides gthread's own: answer requests past their deadline 408; all of them when stopping."""
        super().murder_pending()
        now = time.monotonic()
        for conn, deadline in list(self.waiting.items()):
            # Stopping: no thread has these yet, so they need not delay the exit.
            if deadline <= now or not self.alive:
                if self.alive:
                    self.log.info("Closing %s: its request did not arrive whole in time", conn.client)
                self._stop_waiting(conn)
                self._refuse(conn, REQUEST_TIMEOUT)

    def _stop_waiting(self, conn: TConn) -> None:
        """Take the connection off the event loop and forget its deadline and its bytes."""
        if conn.polled:
            conn.polled = False
            self.poller.unregister(conn.sock)
        del self.waiting[conn]
        self.buffered -= len(conn.buffer)

    def _refuse(self, conn: TConn, answer: bytes) -> None:
        """Send a short error answer if the socket takes it at once, then close."""
        with contextlib.suppress(OSError):
            conn.sock.send(answer)
        self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        """Close a connection that has no request in a thread."""
        self.nr_conns -= 1
        conn.close()
