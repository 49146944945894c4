"""The API's own edges, through the real gunicorn: slow clients, made-up methods and paths,
what /healthz tells, how thumbnails are cached.

The API runs as `start_api` runs it (1 process, 4 threads), so 4 connections blocked reading a
request would be enough to stop it answering; the slow-client tests open 200.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from api.http_worker import BODY_DEADLINE_S, HEAD_DEADLINE_S, MAX_BUFFERED_BYTES, MAX_HEAD_BYTES
from api.metrics import METHODS
from harness.polling import wait_until
from harness.service_processes import BIN, ServiceProcess, free_port, running
from pipeline.folder_store import FolderStore
from pipeline.storage import thumbnail_relpath
from tests.e2e.reliability import fault
from tests.support.data import insert_photo

SLOW_CLIENTS = 200
# Far longer than a request takes on an idle API, even on a loaded machine; far shorter than
# the slow clients would hold a thread each if a header read could hold one.
ANSWER_TIMEOUT_S = 10
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\nX-Padding: " + b"x" * 400
SLOW_POST = b"POST /photos/process HTTP/1.1\r\nHost: slow.example\r\n"


# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


def _address(api: str) -> tuple[str, int]:
    parts = urlsplit(api)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _read_response(sock: socket.socket) -> bytes:
    """One small response (headers and a body of known length) from a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _final_response(sock: socket.socket) -> bytes:
    """The first response that is not an interim (1xx) one."""
    while (response := _read_response(sock)).startswith(b"HTTP/1.1 1"):
        pass
    return response


@contextmanager
def slow_clients(api: str, count: int, sent: bytes, dripped: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections sending `sent` at once, then `dripped` one byte a second.

    Every other one first sends a whole request and reads its answer, so that its slow request
    is the second of a kept-alive connection. The drip stops (and the sockets close) when the
    block ends, or after 120 s at most.
    """
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def drip() -> None:
        for position in range(min(len(dripped), 120)):
            # The attack's pace, one byte a second: not a wait for a condition.
            if stop.wait(1):
                return
            for sock in sockets:
                with suppress(OSError):
                    sock.send(dripped[position : position + 1])

    try:
        for number in range(count):
            sock = socket.create_connection(_address(api), timeout=ANSWER_TIMEOUT_S)
            sockets.append(sock)
            if number % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\n\r\n")
                assert _read_response(sock).startswith(b"HTTP/1.1 200 "), number
            # A kept-alive one may have been closed meanwhile, on a slow machine (after 2 s idle):
            # then it is one slow client fewer, not a failure.
            with suppress(OSError):
                sock.sendall(sent)
        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        yield sockets
    finally:
        stop.set()
        for sock in sockets:
            sock.close()


def _assert_the_api_answers(api: str, photo_id: str) -> None:
    """Requests in a row, so that every one of the 4 threads would have been taken by now."""
    for _ in range(3):
        health = requests.get(f"{api}/healthz", timeout=ANSWER_TIMEOUT_S)
        assert health.status_code == 200
        assert health.json()["status"] == "up"
        photo = requests.get(f"{api}/photos/{photo_id}", timeout=ANSWER_TIMEOUT_S)
        assert photo.status_code == 200
        assert photo.json()["status"] == "pending"
        posted = requests.post(f"{api}/photos/process", json=["0" * 36], timeout=ANSWER_TIMEOUT_S)
        assert posted.status_code == 400


def test_two_hundred_slowloris_connections_do_not_stop_the_api_answering(
    api: str, database: Database
) -> None:
    fault("slow client", SLOW_CLIENTS)
    photo_id = insert_photo(database)
    with slow_clients(api, SLOW_CLIENTS, SLOW_HEAD[:1], SLOW_HEAD[1:]):
        _assert_the_api_answers(api, photo_id)


def test_two_hundred_connections_dripping_a_body_do_not_stop_the_api_answering(
    api: str, database: Database
) -> None:
    fault("slow client", SLOW_CLIENTS)
    photo_id = insert_photo(database)
    body = b"[" + b" " * 999
    with (
        slow_clients(api, SLOW_CLIENTS // 2, SLOW_POST + b"Content-Length: 1000\r\n\r\n", body),
        slow_clients(api, SLOW_CLIENTS // 2, SLOW_POST + b"Transfer-Encoding: chunked\r\n\r\n3e8\r\n", body),
    ):
        _assert_the_api_answers(api, photo_id)


def test_a_request_not_whole_within_its_deadline_is_answered_408_and_closed(api: str) -> None:
    fault("slow client", 2)
    slow_head = socket.create_connection(_address(api), timeout=BODY_DEADLINE_S * 4)
    slow_body = socket.create_connection(_address(api), timeout=BODY_DEADLINE_S * 4)
    with slow_head, slow_body:
        started = time.monotonic()
        slow_head.sendall(SLOW_HEAD[:20])
        slow_body.sendall(SLOW_POST + b"Content-Length: 10\r\n\r\n[1,")
        for sock, deadline in ((slow_head, HEAD_DEADLINE_S), (slow_body, BODY_DEADLINE_S)):
            answer = _read_response(sock)
            elapsed = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert sock.recv(1) == b"", "the connection is closed after the 408"
            # Never before its deadline; after it, however loaded the machine is.
            assert elapsed >= deadline - 0.5


def _answer_or_reset(sock: socket.socket) -> bytes:
    """The response on `sock`, or b"reset" when the server closed it with our bytes unread."""
    try:
        return _read_response(sock)
    except ConnectionResetError:
        return b"reset"


def test_past_the_memory_budget_the_largest_requests_are_refused_and_the_rest_answered(
    api: str, database: Database
) -> None:
    fault("held-back large body", MAX_BUFFERED_BYTES // (1024 * 1024) + 8)
    photo_id = insert_photo(database)
    mib = 1024 * 1024
    budget = MAX_BUFFERED_BYTES // mib
    # 8 more bodies of 1 MiB, each held back by its last byte, than the budget holds.
    sockets = [
        socket.create_connection(_address(api), timeout=BODY_DEADLINE_S * 4) for _ in range(budget + 8)
    ]
    try:
        for sock in sockets:
            with suppress(OSError):  # a refused one is closed while we send
                sock.sendall(SLOW_POST + b"Content-Length: %d\r\n\r\n" % mib + b" " * (mib - 1))
        _assert_the_api_answers(api, photo_id)
        answers = [_answer_or_reset(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()

    held = [answer for answer in answers if answer.startswith(b"HTTP/1.1 408 ")]
    refused = [answer for answer in answers if answer not in held]
    # Refused: a 503, or the connection closed or reset (our bytes unread) before it arrived.
    assert all(answer.startswith(b"HTTP/1.1 503 ") or answer in (b"reset", b"") for answer in refused), (
        refused
    )
    # The budget was used (and no more): those it held waited for their deadline, then got a 408.
    assert budget - 4 <= len(held) <= budget
    assert len(refused) >= 8


def test_a_client_expecting_100_continue_gets_it_before_sending_its_body(api: str) -> None:
    body = b'["00000000-0000-4000-8000-000000000000"]'
    sock = socket.create_connection(_address(api), timeout=ANSWER_TIMEOUT_S)
    with sock:
        sock.sendall(
            SLOW_POST + b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert _read_response(sock).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = _final_response(sock)
    assert answer.startswith(b"HTTP/1.1 202 "), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["skipped"][0]["reason"] == "not_found"


def test_a_head_arriving_in_pieces_and_pipelined_requests_are_answered(api: str) -> None:
    sock = socket.create_connection(_address(api), timeout=ANSWER_TIMEOUT_S)
    with sock:
        sock.sendall(b"GET /heal")
        sock.sendall(b"thz HTTP/1.1\r\nHost: a\r\n")
        sock.sendall(b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        # Two requests and the start of a third in one send, the third finished later.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" * 2 + b"GET /hea")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"lthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        # Two requests with bodies (a length, chunks) in one send, the second's body cut in two.
        first = SLOW_POST + b'Content-Type: application/json\r\nContent-Length: 4\r\n\r\n["x"]'
        second = SLOW_POST + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        sock.sendall(first[:-1])
        sock.sendall(first[-1:] + second + b"Connection: close\r\n\r\n2\r\n[1\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 400 ")
        sock.sendall(b"1\r\n]\r\n0\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 400 ")
        assert wait_until(lambda: sock.recv(1) == b"", timeout=ANSWER_TIMEOUT_S, message="closed")


def test_a_request_head_larger_than_the_cap_is_refused_with_431(api: str) -> None:
    fault("oversized head")
    sock = socket.create_connection(_address(api), timeout=ANSWER_TIMEOUT_S)
    with sock:
        with suppress(OSError):  # the server may close before it has read it all
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * MAX_HEAD_BYTES)
        assert _read_response(sock).startswith(b"HTTP/1.1 431 ")
    assert requests.get(f"{api}/healthz", timeout=ANSWER_TIMEOUT_S).status_code == 200


def _request_series(api: str) -> set[tuple[tuple[str, str], ...]]:
    """The label sets of the API's request counter, as /metrics shows them."""
    text = requests.get(f"{api}/metrics", timeout=ANSWER_TIMEOUT_S).text
    return {
        tuple(sorted(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        if family.name == "photo_processor_http_requests"
        for sample in family.samples
        if sample.name == "photo_processor_http_requests_total"
    }


def test_made_up_methods_and_paths_do_not_grow_the_metrics(api: str) -> None:
    fault("made-up method or path", 600)
    before = _request_series(api)
    with requests.Session() as session:
        for number in range(300):
            session.request(f"MADEUP{number}", f"{api}/photos", timeout=ANSWER_TIMEOUT_S)
            session.get(f"{api}/made/up/{number}", timeout=ANSWER_TIMEOUT_S)
    after = _request_series(api)

    assert {dict(labels)["method"] for labels in after} <= METHODS | {"other"}
    assert not any(dict(labels)["route"].startswith("/made/") for labels in after)
    assert len(after - before) <= 3, sorted(after - before)


def test_healthz_through_gunicorn_says_down_and_only_the_log_has_the_drivers_error(
    service_env: dict[str, str], log_dir: Path
) -> None:
    fault("missing database")
    missing_db = "photo_processor_no_such_database"
    pg_uri = f"{service_env['PG_CONNECTION_URI'].rsplit('/', 1)[0]}/{missing_db}"
    port = free_port()
    api = ServiceProcess(
        "api-missing-database",
        [str(BIN / "gunicorn"), "--config", "api/gunicorn_conf.py", "api.app:get_app()"],
        {
            **service_env,
            "PG_CONNECTION_URI": pg_uri,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_WORKERS": "1",
        },
        log_dir,
    )
    with running(api.start()):

        def health() -> list[requests.Response]:
            """The answer, in a list: a Response is falsy when its status is an error."""
            with suppress(requests.ConnectionError):
                return [requests.get(f"http://127.0.0.1:{port}/healthz", timeout=ANSWER_TIMEOUT_S)]
            return []

        [response] = wait_until(health, timeout=60, message="the API answers /healthz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "down",
            "database": {"status": "down"},
            "broker": {"status": "up"},
            "storage": {"status": "up"},
        }
        for detail in (missing_db, "does not exist", "127.0.0.1", "5432"):
            assert detail not in response.text, detail
        wait_until(
            lambda: f'database "{missing_db}" does not exist' in api.logs(), timeout=30, message="logged"
        )


def test_a_thumbnail_through_gunicorn_is_cached_a_minute_then_revalidated_by_its_etag(
    api: str, thumbs_dir: Path
) -> None:
    photo_id = uuid.uuid4()
    store = FolderStore(thumbs_dir)
    # A file without a row, in the run's THUMBS_DIR: removed whatever the outcome.
    relpath = store.write(thumbnail_relpath(photo_id, ".jpg"), b"\xff\xd8 thumbnail A")
    try:
        first = requests.get(f"{api}/thumbs/{relpath}", timeout=ANSWER_TIMEOUT_S)
        assert first.status_code == 200
        assert first.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
        etag = {"If-None-Match": first.headers["ETag"]}
        assert (
            requests.get(f"{api}/thumbs/{relpath}", headers=etag, timeout=ANSWER_TIMEOUT_S).status_code == 304
        )

        store.write(
            thumbnail_relpath(photo_id, ".jpg"), b"\xff\xd8 thumbnail B"
        )  # processed again: the same name
        again = requests.get(f"{api}/thumbs/{relpath}", headers=etag, timeout=ANSWER_TIMEOUT_S)
        assert again.status_code == 200
        assert again.content == b"\xff\xd8 thumbnail B"
    finally:
        store.remove(photo_id)
