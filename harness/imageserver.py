"""An HTTP server on 127.0.0.1 that serves what each test or benchmark tells it to, and counts the requests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """One canned answer."""

    status: int = 200
    body: bytes = b""
    content_type: str = "image/jpeg"
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds before the status line: a remote source's first-byte latency. The handler thread
    # sleeps, so other requests go on meanwhile (one thread per connection).
    delay_s: float = 0.0


class ImageServer:
    """Routes map a path to a list of replies, served in order; the last one repeats."""

    def __init__(self, port: int = 0) -> None:
        self._routes: dict[str, list[Reply]] = {}
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Event] = {}
        self._families: dict[str, bytes] = {}
        # port 0: one the system picks; a given one for a host that comes back where it was.
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> ImageServer:
        """Serve in a daemon thread; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release every held request, then stop serving and close the socket."""
        for gate in self._gates.values():
            gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>, the port the system chose."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        """The full URL of `path` on this server."""
        return f"{self.base_url}{path}"

    def serve(self, path: str, *replies: Reply) -> str:
        """Serve `replies` at `path` in order (the last repeats); return the full URL."""
        with self._lock:
            self._routes[path] = list(replies)
        return self.url(path)

    def image(self, path: str, body: bytes, content_type: str = "image/jpeg", *, delay_s: float = 0.0) -> str:
        """Serve one image at `path`, each reply `delay_s` late; return the full URL."""
        return self.serve(path, Reply(body=body, content_type=content_type, delay_s=delay_s))

    def family(self, prefix: str, body: bytes) -> None:
        """Serve `body` plus the path itself (after a NUL: a JPEG decoder ignores bytes after its
        end marker) at every path under `prefix`: as many sources of bytes of their own as a
        benchmark names, without holding each in memory."""
        with self._lock:
            self._families[prefix] = body

    def hold(self, path: str) -> threading.Event:
        """Make requests for `path` wait until the returned event is set (a download in flight)."""
        gate = threading.Event()
        with self._lock:
            self._gates[path] = gate
        return gate

    def hits(self, path: str) -> int:
        """How many requests `path` has had."""
        with self._lock:
            return self._hits[path]

    def _next_reply(self, path: str) -> tuple[Reply | None, threading.Event | None]:
        """Count the request; the reply for `path` (None: a 404) and its gate, if held."""
        with self._lock:
            self._hits[path] += 1
            replies = self._routes.get(path)
            gate = self._gates.get(path)
            if not replies:
                family = next(
                    (body for prefix, body in self._families.items() if path.startswith(prefix)), None
                )
                if family is not None:
                    return Reply(body=family + b"\0" + path.encode()), gate
                return None, gate
            return (replies.pop(0) if len(replies) > 1 else replies[0]), gate

    def _handler_class(self) -> Callable[..., BaseHTTPRequestHandler]:
        """A request handler class bound to this server (http.server takes a class, not an instance)."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                """Wait at the gate if held, then for the reply's delay, then send it."""
                reply, gate = server._next_reply(self.path)
                if gate is not None:
                    gate.wait(timeout=120)
                if reply is None:
                    reply = Reply(status=404, body=b"not found", content_type="text/plain")
                if reply.delay_s > 0:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                """Say nothing: a line per request would bury the output."""
                return

        return Handler
