"""Hostile and broken sources, end to end through a real worker process: each photo ends
`failed` with the reason's code, and the worker process stays up and goes on with the next.

The workers here are this module's own, with small caps so that the limits are reached fast:
1 MB, a 2 s deadline, a 1 s socket timeout, 4 megapixels, 2 retries. tests/unit/test_fetch.py
and test_netguard.py test the same limits on the downloader alone.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from harness import proc_tree
from harness.imageserver import ImageServer, Reply
from harness.service_processes import ServiceProcess, free_port
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import expect, fault, fresh_worker, running, wait_for_workers
from tests.support.data import insert_photo, photo_row
from tests.support.images import photo_bytes

CAP = 1_000_000
MAX_PIXELS = 4_000_000
RETRY_MAX = 2
LIMITS = {
    "MAX_DOWNLOAD_BYTES": str(CAP),
    "DOWNLOAD_DEADLINE_S": "2",
    "DOWNLOAD_TIMEOUT_S": "1",
    "MAX_IMAGE_PIXELS": str(MAX_PIXELS),
    "RETRY_MAX": str(RETRY_MAX),
}
BLOCK = b"x" * 16384


# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


# --- a source that misbehaves below HTTP's level ----------------------------------------------


class HostileServer(ThreadingHTTPServer):
    """Routes that stream without end, drip, stall, or drop the connection; counts connections."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.connections = 0
        self.stop = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        route = self.path.strip("/").split("?")[0].split("/")[0].replace("-", "_")
        getattr(self, f"route_{route}")()

    def route_stream(self) -> None:
        """An endless body, framed by an honest or understated Content-Length, chunks, or EOF."""
        mode = self.path.rsplit("/", 1)[1]
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        if mode == "honest":
            self.send_header("Content-Length", str(50 * CAP))
        elif mode == "understated":
            self.send_header("Content-Length", "1000")
        elif mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frame = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK) if mode == "chunked" else BLOCK
        self._write_until_gone(lambda: frame)

    def route_drip_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self._write_until_gone(lambda: b"x", pause=0.1)

    def route_drip_headers(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        self._write_until_gone(lambda: b"x", pause=0.1)

    def route_stall(self) -> None:
        self.server.stop.wait(30)  # headers never come

    def route_reset(self) -> None:
        """Headers and half the body, then a TCP reset."""
        self.send_response(200)
        self.send_header("Content-Length", "20000")
        self.end_headers()
        self.wfile.write(b"\xff\xd8" + b"x" * 9998)
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def route_hang_up(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True

    def _write_until_gone(self, piece: Callable[[], bytes], pause: float = 0.0) -> None:
        try:
            while not self.server.stop.is_set():
                self.wfile.write(piece())
                if pause:
                    self.server.stop.wait(pause)
        except OSError:
            pass  # the client hung up: that is the point
        self.close_connection = True


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


# --- bodies -------------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A real grey PNG of width x height zero pixels: small compressed, huge decoded."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) announces width x height."""
    data = photo_bytes(64, 48)
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


JPEG = photo_bytes(800, 600)
PNG = photo_bytes(300, 200, fmt="PNG")
HTML = b"<!doctype html><html><head><title>500</title></head><body>Something went wrong</body></html>"


# --- running one hostile photo -----------------------------------------------------------------


@dataclass
class Worker:
    process: ServiceProcess
    pids: list[int]  # the Dramatiq worker processes: they must never change (no crash)


def start_own_worker(env: dict[str, str], log_dir: Path) -> Iterator[Worker]:
    with running(fresh_worker(env, log_dir, threads=4)) as process:
        yield Worker(process, wait_for_workers(process))


def run_photo(
    database: Database, actors_package: Any, worker: Worker, url: str, expected: str, kind: str | None
) -> dict[str, Any]:
    """Send one photo at `url`, wait for its end, check the worker is untouched; return its row."""
    photo_id = expect(insert_photo(database, url), expected)
    if kind is not None:  # None: a control photo, no fault in it
        fault(kind)
    actors_package.process_photo.send(photo_id)
    wait_for_status(database, photo_id, "completed", "failed", timeout=60)
    assert proc_tree.dramatiq_workers(worker.process.pid) == worker.pids, "a worker process died"
    row = photo_row(database, photo_id)
    assert row["status"] == expected, row
    if expected == "failed":
        assert row["thumbnails"] == []
    return row


# --- a worker allowing loopback sources (as tests and the local run do) --------------------------


@pytest.fixture(scope="class")
def local_worker(service_env: dict[str, str], log_dir: Path) -> Iterator[Worker]:
    """Loopback and private sources allowed, as in the tests and the local run."""
    yield from start_own_worker({**service_env, **LIMITS, "ALLOW_PRIVATE_SOURCES": "1"}, log_dir)


@pytest.fixture(scope="class")
def guarded_worker(service_env: dict[str, str], log_dir: Path) -> Iterator[Worker]:
    """The default policy: no loopback or private source either."""
    yield from start_own_worker({**service_env, **LIMITS, "ALLOW_PRIVATE_SOURCES": "0"}, log_dir)


class TestHostileSources:
    @pytest.mark.parametrize(
        ("route", "code"),
        [
            ("/stream/honest", "source_too_large"),
            ("/stream/chunked", "source_too_large"),
            ("/stream/until-close", "source_too_large"),
            ("/drip-body", "source_too_slow"),
            ("/drip-headers", "source_too_slow"),
        ],
        ids=[
            "Content-Length over the cap",
            "chunked without end",
            "no length, without end",
            "drips the body",
            "drips the headers",
        ],
    )
    def test_an_oversized_or_dripping_body_is_cut_off_at_the_cap_or_deadline(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        hostile: HostileServer,
        route: str,
        code: str,
    ) -> None:
        started = time.monotonic()
        row = run_photo(
            database, actors_package, local_worker, hostile.url(route), "failed", f"source: {route}"
        )
        assert row["failure_reason"].startswith(code), row["failure_reason"]
        assert row["attempts"] == 1, "too large and too slow are permanent"
        # Stopped at the cap or the 2 s deadline, never read to the 60 s default or without end.
        assert time.monotonic() - started < 15

    def test_a_content_length_that_understates_an_endless_body_is_read_no_further(
        self, local_worker: Worker, database: Database, actors_package: Any, hostile: HostileServer
    ) -> None:
        row = run_photo(
            database,
            actors_package,
            local_worker,
            hostile.url("/stream/understated"),
            "failed",
            "lying length",
        )
        # 1000 bytes of "x" were read, as the header said: not an image, not a 1 MB read.
        assert row["failure_reason"].startswith("not_an_image"), row["failure_reason"]

    @pytest.mark.parametrize(
        ("body", "content_type", "code"),
        [
            (png_bomb(20000, 10000), "image/png", "image_too_large"),
            (jpeg_claiming(60000, 60000), "image/jpeg", "image_too_large"),
            (JPEG[: len(JPEG) // 2], "image/jpeg", "corrupt_image"),
            (PNG[: len(PNG) // 2], "image/png", "corrupt_image"),
            (b"\xff\xd8\xff" + bytes(range(256)) * 8, "image/jpeg", "corrupt_image"),
            (PNG[:60] + b"\x55" * 200 + PNG[260:], "image/png", "corrupt_image"),
            (bytes(range(256)) * 20, "application/octet-stream", "not_an_image"),
            (HTML, "text/html", "not_an_image"),
            (HTML, "image/jpeg", "not_an_image"),
            (b"", "image/jpeg", "not_an_image"),
        ],
        ids=[
            "PNG bomb 200 MP",
            "JPEG header claiming 3600 MP",
            "truncated JPEG",
            "truncated PNG",
            "JPEG marker then garbage",
            "PNG with corrupt pixel data",
            "binary noise",
            "HTML error page with status 200",
            "HTML served as image/jpeg",
            "empty body",
        ],
    )
    def test_bombs_truncated_corrupt_and_non_images_fail_with_their_reason(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        image_server: ImageServer,
        body: bytes,
        content_type: str,
        code: str,
    ) -> None:
        [pid] = local_worker.pids
        peak_before = proc_tree.peak_rss_kib(pid)
        url = image_server.serve(f"/hostile-{uuid.uuid4()}", Reply(body=body, content_type=content_type))
        row = run_photo(database, actors_package, local_worker, url, "failed", f"body: {code}")
        assert row["failure_reason"].startswith(code), row["failure_reason"]
        assert row["attempts"] == 1
        # Never decoded: a 200 MP bomb would take 200 MB; the worker's peak memory barely moves.
        assert proc_tree.peak_rss_kib(pid) - peak_before < 50 * 1024

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
    def test_a_4xx_other_than_408_and_429_fails_at_once(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        image_server: ImageServer,
        status: int,
    ) -> None:
        path = f"/status-{status}-{uuid.uuid4()}"
        url = image_server.serve(path, Reply(status=status, body=HTML, content_type="text/html"))
        row = run_photo(database, actors_package, local_worker, url, "failed", f"HTTP {status}")
        assert row["failure_reason"].startswith("source_http_error")
        assert str(status) in row["failure_reason"]
        assert (row["attempts"], image_server.hits(path)) == (1, 1)

    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    def test_5xx_408_and_429_are_retried_then_fail(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        image_server: ImageServer,
        status: int,
    ) -> None:
        path = f"/status-{status}-{uuid.uuid4()}"
        url = image_server.serve(path, Reply(status=status, body=HTML, content_type="text/html"))
        row = run_photo(database, actors_package, local_worker, url, "failed", f"HTTP {status}")
        assert row["failure_reason"].startswith("source_unavailable")
        assert str(status) in row["failure_reason"]
        assert (row["attempts"], image_server.hits(path)) == (RETRY_MAX + 1, RETRY_MAX + 1)

    @pytest.mark.parametrize("route", ["/reset", "/hang-up", "/stall", "refused"])
    def test_network_errors_are_retried_then_fail(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        hostile: HostileServer,
        route: str,
    ) -> None:
        before = hostile.connections
        url = f"http://127.0.0.1:{free_port()}/photo.jpg" if route == "refused" else hostile.url(route)
        row = run_photo(database, actors_package, local_worker, url, "failed", f"network: {route}")
        assert row["failure_reason"].startswith("source_unavailable"), row["failure_reason"]
        assert row["attempts"] == RETRY_MAX + 1
        if route != "refused":
            assert hostile.connections - before == RETRY_MAX + 1

    def test_a_source_that_fails_once_then_answers_completes(
        self, local_worker: Worker, database: Database, actors_package: Any, image_server: ImageServer
    ) -> None:
        path = f"/flaky-{uuid.uuid4()}.jpg"
        url = image_server.serve(path, Reply(status=503), Reply(status=429), Reply(body=JPEG))
        row = run_photo(database, actors_package, local_worker, url, "completed", "HTTP 503 then 429")
        assert (row["attempts"], image_server.hits(path)) == (3, 3)

    @pytest.mark.parametrize(("hops", "expected"), [(5, "completed"), (6, "failed")])
    def test_at_most_5_redirects_are_followed(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        image_server: ImageServer,
        hops: int,
        expected: str,
    ) -> None:
        chain = f"/hop-{uuid.uuid4()}"
        image_server.image(f"{chain}/0", JPEG)
        for hop in range(1, hops + 1):
            image_server.serve(
                f"{chain}/{hop}", Reply(status=302, headers={"Location": f"{chain}/{hop - 1}"})
            )
        row = run_photo(
            database,
            actors_package,
            local_worker,
            image_server.url(f"{chain}/{hops}"),
            expected,
            f"{hops} redirects",
        )
        if expected == "failed":
            assert row["failure_reason"].startswith("source_refused")
            assert "redirects" in row["failure_reason"]
            assert image_server.hits(f"{chain}/0") == 0

    @pytest.mark.parametrize(
        "target",
        [
            "ftp://127.0.0.1/photo.jpg",
            "file:///etc/passwd",
            "gopher://127.0.0.1:70/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/photo.jpg",
        ],
    )
    def test_a_redirect_to_another_scheme_or_a_refused_address_is_refused(
        self,
        local_worker: Worker,
        database: Database,
        actors_package: Any,
        image_server: ImageServer,
        target: str,
    ) -> None:
        url = image_server.serve(f"/to-{uuid.uuid4()}", Reply(status=302, headers={"Location": target}))
        row = run_photo(database, actors_package, local_worker, url, "failed", f"redirect to {target}")
        assert row["failure_reason"].startswith("source_refused"), row["failure_reason"]
        assert row["attempts"] == 1

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://127.0.0.1:{port}/photo.jpg",
            "file:///etc/passwd",
            "gopher://127.0.0.1:{port}/",
            "data:image/png;base64,iVBORw0KGgo=",
            "javascript:alert(1)",
            "//127.0.0.1:{port}/photo.jpg",
            "http:///photo.jpg",
            "not a url",
        ],
    )
    def test_a_url_that_is_not_http_or_https_is_refused_before_any_request(
        self, local_worker: Worker, database: Database, actors_package: Any, hostile: HostileServer, url: str
    ) -> None:
        before = hostile.connections
        row = run_photo(
            database, actors_package, local_worker, url.format(port=hostile.port), "failed", f"URL {url}"
        )
        assert row["failure_reason"].startswith("source_refused"), row["failure_reason"]
        assert row["attempts"] == 1
        assert hostile.connections == before, "a request was made"

    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "http://[fe80::1]/photo.jpg",
            "http://224.0.0.1/photo.jpg",
            "http://240.0.0.1/photo.jpg",
            "http://0.0.0.0:{port}/photo.jpg",
        ],
        ids=["metadata", "metadata IPv4-mapped", "fe80::/10", "multicast", "reserved", "unspecified"],
    )
    def test_link_local_multicast_reserved_and_unspecified_stay_refused_with_allow_private(
        self, local_worker: Worker, database: Database, actors_package: Any, hostile: HostileServer, url: str
    ) -> None:
        before = hostile.connections
        row = run_photo(
            database, actors_package, local_worker, url.format(port=hostile.port), "failed", f"SSRF {url}"
        )
        assert row["failure_reason"].startswith("source_refused"), row["failure_reason"]
        assert row["attempts"] == 1
        assert hostile.connections == before

    def test_after_all_that_the_same_worker_processes_complete_the_next_photo(
        self, local_worker: Worker, database: Database, actors_package: Any, image_server: ImageServer
    ) -> None:
        url = image_server.image(f"/after-{uuid.uuid4()}.jpg", JPEG)
        row = run_photo(database, actors_package, local_worker, url, "completed", None)
        assert len(row["thumbnails"]) == 1
        assert local_worker.process.alive()
        assert "exited with code" not in local_worker.process.logs()


# --- a worker with the default policy: no private sources ----------------------------------------


class TestSsrfGuardByDefault:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:{port}/photo.jpg",
            "http://localhost:{port}/photo.jpg",
            "http://[::1]:{port}/photo.jpg",
            "http://[::ffff:127.0.0.1]:{port}/photo.jpg",
            "http://2130706433:{port}/photo.jpg",
            "http://10.0.0.1/photo.jpg",
            "http://192.168.1.1/photo.jpg",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/photo.jpg",
            "http://0.0.0.0:{port}/photo.jpg",
        ],
        ids=[
            "loopback",
            "a name resolving to loopback",
            "IPv6 loopback",
            "IPv4-mapped loopback",
            "loopback as a decimal number",
            "10/8",
            "192.168/16",
            "metadata",
            "fe80::/10",
            "unspecified",
        ],
    )
    def test_loopback_private_and_link_local_sources_are_refused(
        self,
        guarded_worker: Worker,
        database: Database,
        actors_package: Any,
        hostile: HostileServer,
        url: str,
    ) -> None:
        before = hostile.connections
        row = run_photo(
            database, actors_package, guarded_worker, url.format(port=hostile.port), "failed", f"SSRF {url}"
        )
        assert row["failure_reason"].startswith("source_refused"), row["failure_reason"]
        assert row["attempts"] == 1
        assert hostile.connections == before, "the refused source was connected to"

    def test_the_image_server_on_loopback_is_refused_and_never_asked(
        self, guarded_worker: Worker, database: Database, actors_package: Any, image_server: ImageServer
    ) -> None:
        path = f"/private-{uuid.uuid4()}.jpg"
        row = run_photo(
            database,
            actors_package,
            guarded_worker,
            image_server.image(path, JPEG),
            "failed",
            "SSRF loopback",
        )
        assert row["failure_reason"].startswith("source_refused")
        assert "loopback" in row["failure_reason"]
        assert image_server.hits(path) == 0
