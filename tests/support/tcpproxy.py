"""A TCP proxy the tests control: put it between a process and PostgreSQL or RabbitMQ, then cut
the line and restore it, without disturbing the real service or the other tests using it.

`cut()` closes every live connection (both ends, so the service side sees its client gone too)
and closes the listening socket, so that new connections are refused as by a service that is
down. `restore()` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target` in both directions, one pair of threads a connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Event | None = None
        self._port = 0
        self.accepted = 0  # connections accepted over the proxy's life
        self.cuts = 0  # how many times the line was cut

    @property
    def port(self) -> int:
        """The port it listens on (chosen at the first start, kept across cuts)."""
        return self._port

    @property
    def up(self) -> bool:
        """Whether it accepts connections now (not cut)."""
        with self._lock:
            return self._listener is not None

    def live_connections(self) -> int:
        """How many connections it forwards now."""
        with self._lock:
            return len(self._pairs)

    def start(self) -> TcpProxy:
        """Listen and forward; return self."""
        self._listen()
        return self

    def cut(self) -> None:
        """Close every live connection and refuse new ones until `restore()`."""
        with self._lock:
            listener, self._listener = self._listener, None
            accepting, self._accepting = self._accepting, None
            pairs, self._pairs = self._pairs, set()
            self.cuts += 1
        if accepting is not None:
            accepting.clear()
        if listener is not None:
            listener.close()
        for client, upstream in pairs:
            _close(client)
            _close(upstream)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if not self.up:
            self._listen()

    def stop(self) -> None:
        """Cut the line for good: every socket is closed, so its threads end."""
        self.cut()

    def _listen(self) -> None:
        """Bind (on the same port after a cut) and start the thread that accepts."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(128)
        self._port = listener.getsockname()[1]
        accepting = threading.Event()
        accepting.set()
        with self._lock:
            self._listener, self._accepting = listener, accepting
        threading.Thread(target=self._accept_loop, args=(listener, accepting), daemon=True).start()

    def _accept_loop(self, listener: socket.socket, accepting: threading.Event) -> None:
        """Accept until cut: connect each client to the target and start its two pumps."""
        while accepting.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed by cut()
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if not accepting.is_set():  # cut while we connected
                    _close(client)
                    _close(upstream)
                    return
                self._pairs.add((client, upstream))
                self.accepted += 1
            pair = (client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """Copy `source` to `sink` until either ends, then close both."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # One side ended: end the other, as a real connection through a dead link would.
        with self._lock:
            self._pairs.discard(pair)
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    """Shut down and close `sock`, whatever state it is in."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
