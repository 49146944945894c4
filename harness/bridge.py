"""Service bridges: a host namespace's own 127.0.0.1:<port> forwarded to a service elsewhere.

RabbitMQ, the S3 server, the image server and the webhook receiver listen on 127.0.0.1 of the
root namespace, which a host namespace cannot reach (it has its own loopback, and no veth end may
be in the root namespace). A `Line` listens inside the host namespace and forwards each
connection to the service, so a worker in the host uses the same URL as everywhere else.

Why one asyncio loop in a thread of the test process, and not socat or a forwarder process:
the listening socket is made inside the host namespace (`netns.call_in`) and keeps belonging to
it, while the loop's own thread stays in the root namespace and connects there; nothing to
install, start, or find again at teardown; and the test can silence or slow a line at once,
without a control channel.

What a line can do, per host and service:
- silent (`flowing` cleared): nothing crosses in either direction, and nothing is closed. Bytes
  and end-of-stream that arrive are held (a few chunks, then the sender's window fills) and
  delivered when the line flows again, as TCP retransmission would after a link comes back.
  The limit of a userspace bridge: the sender's kernel sees its bytes acknowledged by the
  bridge (on loopback), so only application timeouts notice (AMQP heartbeats), not TCP's own.
  A connection accepted while silent is connected to the service when the line flows again.
- delay: every chunk waits `delay` seconds in each direction, order kept (a round trip takes
  twice the delay longer).
A reset (RST) on one side is passed on as a reset on the other, once the line flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness import netns

T = TypeVar("T")
CHUNK = 65536
HELD_CHUNKS = 16  # per direction: beyond that the bridge stops reading (the sender's window fills)
_RESET = b"reset"  # queued in place of data: the other side reset


@dataclass(eq=False)
class Line:
    """One bridged path: `ns`'s 127.0.0.1:`port` to `upstream` (in `upstream_ns`, or the root one)."""

    name: str
    ns: str
    port: int
    upstream: tuple[str, int]
    upstream_ns: str | None = None
    delay: float = 0.0
    accepted: int = 0
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Switchboard:
    """Every line of one run, served by one event loop in a daemon thread named `thread_name`."""

    def __init__(self, thread_name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=thread_name, daemon=True)
        self._thread.start()
        self._thread_name = thread_name
        self.lines: list[Line] = []

    def open(
        self, name: str, ns: str, port: int, upstream: tuple[str, int], *, upstream_ns: str | None = None
    ) -> Line:
        """Listen on 127.0.0.1:`port` inside `ns` and forward to `upstream`; the line flows."""
        listener = netns.call_in(ns, lambda: _listener(port), thread_name=f"{self._thread_name}-ns")
        line = Line(name, ns, port, upstream, upstream_ns)
        self._call(self._serve(line, listener))
        self.lines.append(line)
        return line

    def set_flowing(self, line: Line, flowing: bool) -> None:
        """Let bytes cross the line, or hold them (silence); in effect when this returns."""
        self._call(_set_flowing(line, flowing))

    def set_delay(self, line: Line, seconds: float) -> None:
        """Delay each chunk read from now on by `seconds`, in each direction."""
        self._call(_set_delay(line, seconds))

    def close(self) -> None:
        """Stop listening, reset every connection, stop the loop and its thread."""
        if self._loop.is_closed():
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _serve(self, line: Line, listener: socket.socket) -> None:
        line.flowing.set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line.accepted += 1
            task = asyncio.current_task()
            assert task is not None
            line._tasks.add(task)
            try:
                await _forward(line, reader, writer)
            finally:
                line._tasks.discard(task)

        line._server = await asyncio.start_server(handle, sock=listener)

    async def _close_all(self) -> None:
        for line in self.lines:
            if line._server is not None:
                line._server.close()
            for task in list(line._tasks):
                task.cancel()
            await asyncio.gather(*line._tasks, return_exceptions=True)
        await self._loop.shutdown_default_executor()  # a name lookup would have started its threads


async def _set_flowing(line: Line, flowing: bool) -> None:
    if flowing:
        line.flowing.set()
    else:
        line.flowing.clear()


async def _set_delay(line: Line, seconds: float) -> None:
    line.delay = seconds


def _listener(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` of the calling thread's namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _connect(line: Line) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open the upstream connection, from the line's upstream namespace."""
    if line.upstream_ns is None:
        return await asyncio.open_connection(*line.upstream)
    sock = netns.call_in(line.upstream_ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, line.upstream)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def _forward(line: Line, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    """Carry one connection: wait for the line, connect upstream, pump both ways until both end;
    a failure on either side (or the switchboard closing) resets both."""
    upstream_w: asyncio.StreamWriter | None = None
    try:
        await line.flowing.wait()  # a SYN sent into silence is answered once the link is back
        upstream_r, upstream_w = await _connect(line)
        await _both(_pump(line, client_r, upstream_w), _pump(line, upstream_r, client_w))
    except (OSError, asyncio.CancelledError, _Reset):
        _reset(client_w)
        if upstream_w is not None:
            _reset(upstream_w)
        return
    client_w.close()
    upstream_w.close()


async def _both(*coros: Coroutine[Any, Any, None]) -> None:
    """Run the pumps until both end; the first error cancels the other and is raised."""
    tasks = [asyncio.create_task(coro) for coro in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


class _Reset(Exception):
    """Raised by a pump when its source was reset, to reset the other side too."""


async def _pump(line: Line, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy `source` to `sink`, each chunk delayed and held while the line is silent; pass on EOF."""
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=HELD_CHUNKS)

    async def read() -> None:
        while True:
            try:
                data = await source.read(CHUNK)
            except OSError:
                data = _RESET
            await held.put((loop.time() + line.delay, data))
            if not data or data is _RESET:
                return

    reading = asyncio.create_task(read())
    try:
        while True:
            due, data = await held.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            await line.flowing.wait()
            if data is _RESET:
                raise _Reset
            if not data:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(data)
            await sink.drain()
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (linger 0), as a kernel does for a connection it has no state for."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
