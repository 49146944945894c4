"""The downloader against hostile and broken sources, served by a local HTTP server per test."""

from __future__ import annotations

import gzip
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from config import Config
from harness.polling import wait_until
from pipeline import netguard
from pipeline.errors import (
    SourceHttpError,
    SourceRefused,
    SourceTooLarge,
    SourceTooSlow,
    SourceUnavailable,
    WorkerStopping,
)
from pipeline.fetch import Download, Fetcher, FetchPolicy
from pipeline.netguard import AddressGuard
from pipeline.transport import guarded_session

PHOTO = bytes(range(256)) * 800  # 200 KiB standing in for a JPEG
CAP = 256 * 1024
BLOCK = b"x" * 16384


class Server(ThreadingHTTPServer):
    """A loopback server whose routes play good and hostile sources, counting what it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.sent = 0  # body bytes written by the last streaming route before the client left
        self.streamed = threading.Event()  # set when a streaming route has stopped
        self.stop = threading.Event()  # set at teardown: stalled routes give up

    @property
    def base(self) -> str:
        """The server's own URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count connections: keep-alive reuse shows as fewer connections than requests."""
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Routes by the first path segment; see the do_* methods below."""

    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on what the server recorded instead."""

    def do_GET(self) -> None:
        """Record the request, then play the route."""
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.headers.append(dict(self.headers))
        route, _, rest = self.path.lstrip("/").partition("/")
        getattr(self, "route_" + route.partition("?")[0].replace("-", "_"))(rest)

    def query(self) -> dict[str, str]:
        """The query string as a dict of single values."""
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Send a complete response with Content-Length."""
        self.send_response(status)
        for name, value in {"Content-Type": "image/jpeg", **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_ok(self, rest: str) -> None:
        self.reply(200, PHOTO)

    def route_status(self, rest: str) -> None:
        self.reply(int(rest), b"<html>secret error page</html>", Content_Type="text/html")

    def route_redirect(self, rest: str) -> None:
        hops = int(rest)
        self.reply(302, Location=f"/redirect/{hops - 1}" if hops > 1 else "/ok")

    def route_slow_redirect(self, rest: str) -> None:
        self.server.stop.wait(0.3)  # each hop is slow, the chain as a whole too slow
        self.reply(302, Location=f"/slow-redirect/{rest}")

    def route_to(self, rest: str) -> None:
        self.reply(302, Location=self.query()["url"])

    def route_cookie(self, rest: str) -> None:
        self.reply(200, PHOTO, Set_Cookie="session=abc; Path=/")

    def route_headers(self, rest: str) -> None:
        self.reply(200, json.dumps(dict(self.headers)).encode(), Content_Type="application/json")

    def route_close(self, rest: str) -> None:
        self.reply(200, PHOTO, Connection="close")
        self.close_connection = True

    def route_stall(self, rest: str) -> None:
        self.server.stop.wait()  # headers never come

    def route_stream(self, rest: str) -> None:
        """An endless body: framed by an honest or lying Content-Length, chunks, or EOF."""
        mode = rest
        # A small send buffer, so that what the server sent is close to what the client read.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        self.send_response(200)
        if mode == "honest":
            self.send_header("Content-Length", str(100 * CAP))
        elif mode == "lying":
            self.send_header("Content-Length", "1000")
        elif mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        frame = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK) if mode == "chunked" else BLOCK
        self.write_until_gone(lambda: frame, len(BLOCK))

    def route_cut_short(self, rest: str) -> None:
        """Content-Length promises more than comes before the connection ends."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(PHOTO)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(PHOTO[: len(PHOTO) // 2])
        self.close_connection = True

    def route_gzip_bomb(self, rest: str) -> None:
        """A small compressed body (Content-Length honest) that decodes to far beyond the cap."""
        body = gzip.compress(b"\0" * (8 * CAP))
        self.reply(200, body, Content_Encoding="gzip")

    def route_drip_body(self, rest: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.write_until_gone(lambda: b"x", 1, pause=0.05)

    def route_drip_headers(self, rest: str) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        self.write_until_gone(lambda: b"x", 1, pause=0.05)

    def write_until_gone(self, piece: Callable[[], bytes], counts: int, pause: float = 0.0) -> None:
        """Write `piece` again and again until the client hangs up; record how much got out."""
        sent = 0
        try:
            while not self.server.stop.is_set():
                self.wfile.write(piece())
                sent += counts
                if pause:
                    self.server.stop.wait(pause)
        except OSError:
            pass  # the client hung up: that is the point
        finally:
            self.server.sent = sent
            self.server.streamed.set()
            self.close_connection = True


def serve(httpd: Server) -> Iterator[Server]:
    """Run `httpd` in a thread for the duration of a test."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    """A fresh server per test, so counts start at zero."""
    yield from serve(Server())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for photos.test and 127.0.0.1 (cert.pem, key.pem in a folder)."""
    # openssl is part of this machine kind's base; a missing one fails the run, never skips it.
    assert shutil.which("openssl"), "the TLS tests need the openssl command"
    folder = tmp_path_factory.mktemp("tls")
    subject = ["-subj", "/CN=photos.test", "-addext", "subjectAltName=DNS:photos.test,IP:127.0.0.1"]
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    files = ["-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")]
    subprocess.run(["openssl", "req", "-x509", *key, *subject, *files], check=True, capture_output=True)
    return folder


@pytest.fixture
def tls_server(certificate: Path) -> Iterator[Server]:
    """The same server behind TLS with the self-signed certificate."""
    httpd = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    yield from serve(httpd)


def policy(**overrides: Any) -> FetchPolicy:
    """A policy fit for loopback tests: short timeouts, small cap, private sources allowed."""
    values: dict[str, Any] = {"connect_timeout_s": 1.0, "read_timeout_s": 1.0, "deadline_s": 5.0}
    values |= {"max_bytes": CAP, "max_redirects": 5, "allow_private": True}
    return FetchPolicy(**{**values, **overrides})


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    """Build fetchers (policy overrides as keywords, `guard=` to inject one); all closed after."""
    made: list[Fetcher] = []

    def make(guard: AddressGuard | None = None, **overrides: Any) -> Fetcher:
        made.append(Fetcher(policy(**overrides), guard=guard))
        return made[-1]

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., Fetcher]) -> Fetcher:
    """A fetcher with the loopback test policy."""
    return make_fetcher()


class OnlyLoopbackOne(AddressGuard):
    """Treats 127.0.0.1 as if it were public and judges every other address by the default policy."""

    def check(self, address: netguard.IPAddress) -> None:
        """Let the test server through; refuse the rest as production would."""
        if address != ipaddress.ip_address("127.0.0.1"):
            super().check(address)


class SmallBuffers(OnlyLoopbackOne):
    """Also pins the receive buffer small, so that what the server sent is close to what was read."""

    def connect(self, host: str, port: int, timeout: float | None, options: Any) -> socket.socket:
        """Connect with a 64 KiB receive buffer (no autotuning)."""
        return super().connect(host, port, timeout, [*options, (socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)])


def resolver(mapping: dict[str, list[str]], calls: list[str]) -> netguard.Resolver:
    """A resolver answering from `mapping` (each name's answers used in turn), recording calls."""

    def resolve(host: str, port: int, family: int = 0, kind: int = 0) -> list[tuple[Any, ...]]:
        calls.append(host)
        address = mapping[host].pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return resolve


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- success ---------------------------------------------------------------------------------


def test_a_200_response_returns_the_body_intact(fetcher: Fetcher, server: Server) -> None:
    """Body, content type and final URL come back; elapsed time is measured."""
    download = fetcher.fetch(server.base + "/ok")
    assert download == Download(PHOTO, "image/jpeg", server.base + "/ok", download.elapsed_s)
    assert 0 < download.elapsed_s < 5


def test_a_body_exactly_at_the_cap_is_accepted(make_fetcher: Callable[..., Fetcher], server: Server) -> None:
    """The cap is inclusive."""
    assert make_fetcher(max_bytes=len(PHOTO)).fetch(server.base + "/ok").data == PHOTO


def test_consecutive_downloads_reuse_the_kept_alive_connection(fetcher: Fetcher, server: Server) -> None:
    """Keep-alive matters for throughput: three photos, one connection."""
    for _ in range(3):
        fetcher.fetch(server.base + "/ok")
    assert server.connections == 1


def test_threads_can_share_one_fetcher(fetcher: Fetcher, server: Server) -> None:
    """Each thread gets its own session; all downloads come back intact."""
    results: list[bytes] = []

    def work() -> None:
        for _ in range(5):
            results.append(fetcher.fetch(server.base + "/ok").data)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [PHOTO] * 20


def test_requests_name_the_service_ask_for_images_and_carry_no_cookies(
    fetcher: Fetcher, server: Server
) -> None:
    """User-Agent and Accept are set; a cookie one source sets is not sent to the next request."""
    fetcher.fetch(server.base + "/cookie")
    sent = json.loads(fetcher.fetch(server.base + "/headers").data)
    assert sent["User-Agent"].startswith("photo-processor/")
    assert sent["Accept"] == "image/*"
    assert "Cookie" not in sent


def test_environment_proxies_are_ignored(
    fetcher: Fetcher, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would connect for us, around the address check: it is never used."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    assert fetcher.fetch(server.base + "/ok").data == PHOTO


def test_the_policy_is_built_from_the_configuration() -> None:
    """DOWNLOAD_TIMEOUT_S sets both timeouts; the other settings carry over one to one."""
    config = Config(download_timeout_s=7, download_deadline_s=30, max_download_bytes=99, max_redirects=2)
    assert FetchPolicy.from_config(config) == FetchPolicy(
        connect_timeout_s=7,
        read_timeout_s=7,
        deadline_s=30,
        max_bytes=99,
        max_redirects=2,
        allow_private=False,
    )


# --- status codes and network errors ---------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_4xx_status_is_a_permanent_http_error(fetcher: Fetcher, server: Server, status: int) -> None:
    """The status is kept on the error, and the body (the source's error page) is not echoed."""
    with pytest.raises(SourceHttpError, match=f"^source answered HTTP {status}$") as caught:
        fetcher.fetch(f"{server.base}/status/{status}")
    assert caught.value.status == status


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_5xx_408_and_429_are_transient(fetcher: Fetcher, server: Server, status: int) -> None:
    """Trying again later may help."""
    with pytest.raises(SourceUnavailable, match=f"^source answered HTTP {status}$"):
        fetcher.fetch(f"{server.base}/status/{status}")


def test_a_refused_connection_is_transient(fetcher: Fetcher) -> None:
    """Nothing listening: SourceUnavailable naming the host."""
    with pytest.raises(SourceUnavailable, match=r"127\.0\.0\.1.*[Rr]efused"):
        fetcher.fetch(f"http://127.0.0.1:{free_port()}/photo.jpg")


def test_a_name_that_does_not_resolve_is_transient(make_fetcher: Callable[..., Fetcher]) -> None:
    """DNS failure: SourceUnavailable saying the host could not be resolved."""

    def fail(*args: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    fetcher = make_fetcher(guard=AddressGuard(allow_private=True, resolver=fail))
    with pytest.raises(SourceUnavailable, match=r"host nowhere\.example could not be resolved"):
        fetcher.fetch("http://nowhere.example/photo.jpg")


def test_a_server_that_never_sends_headers_times_out_as_transient(
    make_fetcher: Callable[..., Fetcher], server: Server
) -> None:
    """A stalled source trips the read timeout: SourceUnavailable, well before the deadline."""
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"did not answer within 0\.3 s"):
        make_fetcher(read_timeout_s=0.3).fetch(server.base + "/stall/")
    assert time.monotonic() - started < 2


# --- size cap --------------------------------------------------------------------------------


def test_a_content_length_over_the_cap_is_refused_before_reading(fetcher: Fetcher, server: Server) -> None:
    """Honest Content-Length above the cap: SourceTooLarge at once, the message naming both."""
    with pytest.raises(SourceTooLarge, match=rf"^body exceeds {CAP} bytes \(Content-Length {100 * CAP}\)$"):
        fetcher.fetch(server.base + "/stream/honest")


@pytest.mark.parametrize("mode", ["chunked", "until-close"])
def test_an_endless_body_without_length_stops_at_the_cap(
    make_fetcher: Callable[..., Fetcher], server: Server, mode: str
) -> None:
    """No Content-Length (chunked, or read to EOF): reading stops near the cap, not at the end."""
    fetcher = make_fetcher(guard=SmallBuffers())
    with pytest.raises(SourceTooLarge, match=f"^body exceeds {CAP} bytes$"):
        fetcher.fetch(f"{server.base}/stream/{mode}")
    assert server.streamed.wait(timeout=5), "the server is still streaming: the client kept reading"
    # What was read (the cap and one byte), plus what sat in the two pinned socket buffers
    # (up to about 512 KiB together with the kernel's overhead): the stream is endless otherwise.
    assert server.sent < CAP + 1024 * 1024


def test_a_content_length_that_understates_the_body_is_read_only_as_far_as_it_says(
    fetcher: Fetcher, server: Server
) -> None:
    """A lying (smaller) Content-Length cannot push more than it declares into memory."""
    download = fetcher.fetch(server.base + "/stream/lying")
    assert download.data == BLOCK[:1000]


def test_a_body_cut_short_of_its_content_length_is_an_error_not_a_short_photo(
    fetcher: Fetcher, server: Server
) -> None:
    """Read whole in one call, the body still has to be all there."""
    with pytest.raises(SourceUnavailable, match=r"^download from 127\.0\.0\.1 failed"):
        fetcher.fetch(server.base + "/cut-short")


def test_a_compressed_body_is_capped_as_it_decodes_whatever_its_content_length(
    fetcher: Fetcher, server: Server
) -> None:
    """Accept-Encoding says identity; a source that compresses anyway gets no bomb past the cap."""
    with pytest.raises(SourceTooLarge, match=f"^body exceeds {CAP} bytes$"):
        fetcher.fetch(server.base + "/gzip-bomb")


# --- deadline --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["drip-body", "drip-headers"])
def test_a_dripping_source_is_cut_off_at_the_deadline(
    make_fetcher: Callable[..., Fetcher], server: Server, route: str
) -> None:
    """One byte every 50 ms never trips the 1 s read timeout; the 1.5 s deadline stops it."""
    fetcher = make_fetcher(deadline_s=1.5)
    started = time.monotonic()
    with pytest.raises(SourceTooSlow, match=r"^download exceeded the 1\.5 s deadline$"):
        fetcher.fetch(f"{server.base}/{route}/")
    assert 1.4 < time.monotonic() - started < 2.0
    assert server.streamed.wait(timeout=2), "the connection was left open"


def test_the_deadline_covers_the_redirect_chain_as_a_whole(
    make_fetcher: Callable[..., Fetcher], server: Server
) -> None:
    """Hops of 0.3 s each, none slow on its own, exceed a 1 s deadline together."""
    started = time.monotonic()
    with pytest.raises(SourceTooSlow):
        make_fetcher(deadline_s=1.0, max_redirects=30).fetch(server.base + "/slow-redirect/")
    assert time.monotonic() - started < 1.5


def test_a_fetcher_works_on_after_a_download_was_cut_off(
    make_fetcher: Callable[..., Fetcher], server: Server
) -> None:
    """The deadline's timer does not touch the next download's connection."""
    fetcher = make_fetcher(deadline_s=0.5)
    with pytest.raises(SourceTooSlow):
        fetcher.fetch(server.base + "/drip-body/")
    assert fetcher.fetch(server.base + "/ok").data == PHOTO


# --- the worker stopping ----------------------------------------------------------------------


@pytest.mark.parametrize("route", ["stall", "drip-body"])
def test_interrupt_cuts_a_running_download_at_once(
    make_fetcher: Callable[..., Fetcher], server: Server, route: str
) -> None:
    """Headers that never come, a body that drips: no timeout or deadline would end either for a
    minute, but the worker stopping cuts them now."""
    fetcher = make_fetcher(read_timeout_s=60.0, deadline_s=60.0)
    raised: list[BaseException] = []

    def download() -> None:
        try:
            fetcher.fetch(f"{server.base}/{route}/")
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=download, daemon=True)
    thread.start()
    wait_until(lambda: server.paths, timeout=10, message="the request reached the server")
    fetcher.interrupt()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the download was not cut"
    assert [(type(error), str(error)) for error in raised] == [
        (WorkerStopping, "download cut: the worker is stopping")
    ]


def test_once_interrupted_a_fetcher_starts_no_download(fetcher: Fetcher, server: Server) -> None:
    """A thread that reaches its download after the worker began stopping does not even connect."""
    fetcher.interrupt()
    with pytest.raises(WorkerStopping):
        fetcher.fetch(server.base + "/ok")
    assert server.connections == 0


# --- TLS -----------------------------------------------------------------------------------


def test_an_untrusted_certificate_is_refused(fetcher: Fetcher, tls_server: Server) -> None:
    """Not transient: a certificate we cannot trust stays untrusted on retry."""
    url = f"https://127.0.0.1:{tls_server.server_address[1]}/ok"
    with pytest.raises(SourceRefused, match=r"^TLS certificate of 127\.0\.0\.1 not accepted"):
        fetcher.fetch(url)


def test_tls_checks_the_url_host_while_the_socket_goes_to_the_checked_address(
    tls_server: Server, certificate: Path
) -> None:
    """The guarded transport connects to the resolved IP yet verifies the certificate for the name."""
    answers = {"photos.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
    guard = AddressGuard(allow_private=True, resolver=resolver(answers, []))
    port = tls_server.server_address[1]
    with guarded_session(guard, {}, lambda sock: None) as session:
        session.verify = str(certificate / "cert.pem")
        assert session.get(f"https://photos.test:{port}/ok", timeout=2).content == PHOTO
        with pytest.raises(requests.exceptions.SSLError, match=r"(?i)hostname mismatch"):
            session.get(f"https://other.test:{port}/ok", timeout=2)


# --- redirects -------------------------------------------------------------------------------


def test_max_redirects_hops_are_followed(fetcher: Fetcher, server: Server) -> None:
    """Five redirects with max_redirects=5 arrive; the final URL is reported."""
    download = fetcher.fetch(server.base + "/redirect/5")
    assert (download.data, download.final_url) == (PHOTO, server.base + "/ok")


def test_one_redirect_more_than_allowed_is_refused(fetcher: Fetcher, server: Server) -> None:
    """Six redirects with max_redirects=5: SourceRefused, and the sixth target is never requested."""
    with pytest.raises(SourceRefused, match=r"^more than 5 redirects"):
        fetcher.fetch(server.base + "/redirect/6")
    assert server.paths[-1] == "/redirect/1"


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/photo.jpg", "gopher://127.0.0.1:70/_", "data:,x"]
)
def test_a_redirect_to_another_scheme_is_refused(fetcher: Fetcher, server: Server, target: str) -> None:
    """Only http and https, at every hop."""
    with pytest.raises(SourceRefused, match="only http and https"):
        fetcher.fetch(f"{server.base}/to?url={quote(target)}")


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.2:{port}/ok", "http://[::1]:{port}/ok", "http://169.254.169.254/latest/meta-data/"],
)
def test_a_redirect_from_an_allowed_source_to_a_refused_address_is_refused(
    make_fetcher: Callable[..., Fetcher], server: Server, target: str
) -> None:
    """The first hop passes the policy; the hop it redirects to is checked again and refused."""
    fetcher = make_fetcher(guard=OnlyLoopbackOne(), connect_timeout_s=0.5)
    url = target.format(port=server.server_address[1])
    with pytest.raises(SourceRefused, match=r"^address \S+ is (loopback|link-local) and refused$"):
        fetcher.fetch(f"{server.base}/to?url={quote(url)}")
    assert server.connections == 1


# --- schemes and addresses -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/photo.jpg",
        "gopher://127.0.0.1:{port}/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "127.0.0.1:{port}/ok",
        "//127.0.0.1:{port}/ok",
        "",
        "not a url",
        "http://",
        "http://[::1/ok",
        "http://127.0.0.1:99999/ok",
    ],
)
def test_urls_that_are_not_http_or_https_are_refused_without_connecting(
    fetcher: Fetcher, server: Server, url: str
) -> None:
    """SourceRefused, and the server never saw a connection."""
    with pytest.raises(SourceRefused):
        fetcher.fetch(url.format(port=server.server_address[1]))
    assert server.connections == 0


def test_an_overlong_url_is_shortened_in_the_message(fetcher: Fetcher) -> None:
    """The stored reason stays readable."""
    with pytest.raises(SourceRefused) as caught:
        fetcher.fetch("ftp://example.com/" + "a" * 10_000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "0x7f.0.0.1", "2130706433"]
)
def test_loopback_is_refused_by_default_however_it_is_written(
    make_fetcher: Callable[..., Fetcher], server: Server, host: str
) -> None:
    """Every spelling of the local host ends at a loopback address, and that is refused."""
    fetcher = make_fetcher(allow_private=False)
    with pytest.raises(SourceRefused, match="is loopback and refused"):
        fetcher.fetch(f"http://{host}:{server.server_address[1]}/ok")
    assert server.connections == 0


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "[fe80::1]", "[::ffff:169.254.169.254]", "224.0.0.1", "0.0.0.0", "[::]"]
)
def test_link_local_multicast_and_unspecified_are_refused_even_with_allow_private(
    make_fetcher: Callable[..., Fetcher], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """The cloud metadata address and its kin: refused before any socket is made."""

    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a socket was created for a refused address")

    monkeypatch.setattr(netguard.socket, "socket", no_socket)
    fetcher = make_fetcher(allow_private=True, connect_timeout_s=0.2, read_timeout_s=0.2)
    with pytest.raises(SourceRefused, match=r"is (link-local|multicast|unspecified) and refused"):
        fetcher.fetch(f"http://{host}/latest/meta-data/")


def test_dns_rebinding_cannot_slip_past(make_fetcher: Callable[..., Fetcher], server: Server) -> None:
    """A name allowed on one lookup and private on the next is checked on each connection."""
    calls: list[str] = []
    answers = {"photos.example": ["127.0.0.1", "127.0.0.2"]}
    fetcher = make_fetcher(guard=OnlyLoopbackOne(resolver=resolver(answers, calls)))
    url = f"http://photos.example:{server.server_address[1]}/close"  # the server closes: a new lookup next
    assert fetcher.fetch(url).data == PHOTO
    assert server.headers[0]["Host"] == f"photos.example:{server.server_address[1]}"
    with pytest.raises(SourceRefused, match=r"address 127\.0\.0\.2 is loopback and refused"):
        fetcher.fetch(url)
    assert calls == ["photos.example", "photos.example"]
    assert server.connections == 1
