"""A webhook receiver on 127.0.0.1 for the tests and the benchmark: it checks each delivery's
signature as a customer's receiver would (the README's recipe, written out here again rather than
imported, so a mistake in webhooks/signing.py cannot hide itself) and records what arrived.

Modes, switched at any time: "accept" (verify, record, 200), "refuse" (record, 500), "hang"
(read the request, never answer until the mode changes or the server stops), and `down()` /
`up()`, which close the listening socket and open it again on the same port.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.service_processes import free_port

TOLERANCE_S = 300


def signature_ok(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """The README's check: a fresh timestamp, and an HMAC-SHA256 of "<t>.<body>" that matches."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    t, v1 = parts.get("t", ""), parts.get("v1", "")
    if not (t.isascii() and t.isdigit() and len(t) <= 12):
        return False
    if abs((time.time() if now is None else now) - int(t)) > TOLERANCE_S:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), v1.encode())


@dataclass(frozen=True)
class Delivery:
    """One request as received: its event-id header, its JSON, whether its signature held, what we answered."""

    event_id: str
    event: dict[str, Any]
    verified: bool
    answered: int | None  # None: never answered (hang)


class WebhookReceiver:
    """Receives POSTs at any path of http://127.0.0.1:<port>/."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = free_port()
        self.mode = "accept"
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/photos"

    def up(self) -> WebhookReceiver:
        """Listen (again) on the port; return self."""
        self._httpd = _QuietServer(("127.0.0.1", self.port), self._handler_class())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening: connections to the port are refused until `up`."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        """Release hung requests and stop."""
        self.set_mode("accept")
        self.down()

    def set_mode(self, mode: str) -> None:
        """accept, refuse or hang; leaving hang releases the requests held."""
        assert mode in ("accept", "refuse", "hang"), mode
        self.mode = mode
        if mode == "hang":
            self._released.clear()
        else:
            self._released.set()

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def delivered(self) -> dict[str, list[Delivery]]:
        """The accepted deliveries (answered 2xx), by event id."""
        found: dict[str, list[Delivery]] = {}
        for delivery in self.deliveries():
            if delivery.answered == 200:
                found.setdefault(delivery.event_id, []).append(delivery)
        return found

    def _receive(self, headers: Any, body: bytes) -> tuple[Delivery, Callable[[], bool]]:
        verified = signature_ok(self.secret, headers.get("Photo-Processor-Signature", ""), body)
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        mode = self.mode
        answered = None if mode == "hang" else 200 if mode == "accept" and verified else 500
        if mode == "accept" and not verified:
            answered = 400
        delivery = Delivery(headers.get("Photo-Processor-Event-Id", ""), event, verified, answered)
        with self._lock:
            self._deliveries.append(delivery)
        return delivery, lambda: self._released.wait(timeout=600)

    def _handler_class(self) -> Callable[..., BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery, hang = receiver._receive(self.headers, body)
                if delivery.answered is None:
                    hang()
                    return
                self.close_connection = True
                payload = b"ok" if delivery.answered == 200 else b"refused by the test receiver"
                with contextlib.suppress(OSError):
                    self.send_response(delivery.answered)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    # A connection per delivery: `down` then stops every delivery, kept-alive or not.
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """A sender that gives up (its deadline) resets the connection: not worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return
