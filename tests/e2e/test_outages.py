"""RabbitMQ and PostgreSQL go away and come back while the API and the worker run.

The API and the worker of each test are this module's own, connected to the service through a
TCP proxy the test cuts and restores (tests/support/tcpproxy.py): the real RabbitMQ and
PostgreSQL, and every other test, are undisturbed. Same database and vhost as the other tests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from peewee import Database

from harness import proc_tree
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import start_api
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import (
    expect,
    fault,
    fresh_worker,
    hold,
    lock_held,
    rendition_paths,
    running,
    thumbnail_files,
    wait_for_workers,
)
from tests.support.data import DEFAULT_RENDITIONS, insert_photo, photo_row, status_of
from tests.support.images import photo_bytes
from tests.support.tcpproxy import TcpProxy

RETRY = re.compile(r"Retrying message '[^']+' in (\d+) milliseconds")


# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


@pytest.fixture
def proxies() -> Iterator[list[TcpProxy]]:
    made: list[TcpProxy] = []
    yield made
    for proxy in made:
        proxy.stop()


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def proxy_for(url: str, proxies: list[TcpProxy]) -> TcpProxy:
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 0).start()
    proxies.append(proxy)
    return proxy


def photo(image_server: ImageServer, database: Database, *, held: bool = False) -> tuple[str, str, Any]:
    path = f"/outage-{uuid.uuid4()}.jpg"
    gate = hold(image_server, path) if held else None
    photo_id = insert_photo(database, image_server.image(path, photo_bytes(600, 400)))
    return photo_id, path, gate


def post(api: str, *photo_ids: str) -> requests.Response:
    return requests.post(f"{api}/photos/process", json=list(photo_ids), timeout=60)


def health(api: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{api}/healthz", timeout=30)
    return response.status_code, response.json()


def assert_completed_once(database: Database, thumbs_dir: Path, photo_id: str) -> None:
    row = photo_row(database, photo_id)
    assert row["status"] == "completed", row
    assert len(row["renditions"]) == DEFAULT_RENDITIONS, row["renditions"]
    assert thumbnail_files(thumbs_dir, photo_id) == rendition_paths(thumbs_dir, row)


def test_rabbitmq_outage_the_api_answers_503_claims_nothing_and_both_recover_without_a_restart(
    service_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    proxies: list[TcpProxy],
) -> None:
    proxy = proxy_for(service_env["AMQP_URI"], proxies)
    # A short heartbeat, so that a silent link would be noticed quickly too.
    amqp = through(service_env["AMQP_URI"], proxy) + "?heartbeat=5"
    env = {**service_env, "AMQP_URI": amqp, "DOWNLOAD_TIMEOUT_S": "60"}
    api_process, api = start_api(env, log_dir)
    with running(api_process), running(fresh_worker(env, log_dir)) as worker:
        wait_for_workers(worker)
        master = proc_tree.dramatiq_master(worker.pid)
        answered_202 = []

        before, _, _ = photo(image_server, database)
        assert post(api, before).status_code == 202
        answered_202.append(before)
        in_flight, path, gate = photo(image_server, database, held=True)
        assert post(api, in_flight).status_code == 202
        answered_202.append(in_flight)
        wait_until(lambda: image_server.hits(path) >= 1, timeout=30, message="download in flight")
        wait_for_status(database, before, "completed")

        restarts = worker.logs().count("Restarting consumer")
        proxy.cut()
        fault("RabbitMQ connections cut, new ones refused")
        during, _, _ = photo(image_server, database)
        response = post(api, during)
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert {"title", "description"} <= set(response.json())
        assert photo_row(database, during)["status"] == "pending", "a 503 claims nothing"
        assert photo_row(database, during)["attempts"] == 0
        status, body = health(api)
        assert status == 503
        assert body["broker"]["status"] == "down"
        assert body["database"]["status"] == "up"
        # The photo in flight finishes; only its acknowledgement is lost (RabbitMQ redelivers it).
        gate.set()
        wait_for_status(database, in_flight, "completed")
        # Both consumers (queue and delay queue) lose their connection, then fail to reconnect.
        wait_until(
            lambda: worker.logs().count("Restarting consumer") >= restarts + 4,
            timeout=30,
            message="the worker's consumers tried to reconnect during the outage",
        )
        assert worker.alive(), "the supervised worker must stay up (under honcho, its exit stops all)"
        assert api_process.alive()

        proxy.restore()
        wait_until(lambda: health(api)[0] == 200, timeout=60, message="/healthz recovered")
        response = post(api, during)
        assert response.status_code == 202, response.text
        assert response.json()["queued"] == [during]
        answered_202.append(during)
        after, _, _ = photo(image_server, database)
        assert post(api, after).status_code == 202
        answered_202.append(after)

        for photo_id in answered_202:
            expect(photo_id, "completed")
            wait_for_status(database, photo_id, "completed", "failed", timeout=90)
            assert_completed_once(database, thumbs_dir, photo_id)
        assert worker.alive()
        assert api_process.alive()
        assert proc_tree.dramatiq_master(worker.pid) == master, "the worker reconnected without a restart"


def test_a_worker_started_while_rabbitmq_is_down_waits_and_consumes_once_it_is_back(
    service_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    actors_package: Any,
    proxies: list[TcpProxy],
) -> None:
    """As after a crash during an outage: the worker must neither die nor need a person."""
    proxy = proxy_for(service_env["AMQP_URI"], proxies)
    env = {**service_env, "AMQP_URI": through(service_env["AMQP_URI"], proxy) + "?heartbeat=5"}
    proxy.cut()
    fault("RabbitMQ down when the worker starts")
    with running(fresh_worker(env, log_dir)) as worker:
        wait_until(
            lambda: worker.logs().count("Restarting consumer") >= 4,
            timeout=30,
            message="the worker's consumers tried to connect",
        )
        pids = wait_for_workers(worker)
        assert "exited with code" not in worker.logs()

        proxy.restore()
        photo_id, _, _ = expect_completed(photo(image_server, database))
        actors_package.process_photo.send(photo_id)  # straight to RabbitMQ, not through the proxy
        wait_for_status(database, photo_id, "completed", "failed", timeout=60)
        assert_completed_once(database, thumbs_dir, photo_id)
        assert wait_for_workers(worker) == pids, "the worker process was never restarted"


def test_postgresql_outage_the_api_answers_503_and_the_worker_retries_until_the_database_is_back(
    service_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    actors_package: Any,
    proxies: list[TcpProxy],
) -> None:
    proxy = proxy_for(service_env["PG_CONNECTION_URI"], proxies)
    env = {
        **service_env,
        "PG_CONNECTION_URI": through(service_env["PG_CONNECTION_URI"], proxy),
        "DOWNLOAD_TIMEOUT_S": "60",
        # No retry budget for the source: a database outage must be retried for as long as it
        # lasts whatever RETRY_MAX says, also when it strikes in the middle of a photo.
        "RETRY_MAX": "0",
    }
    api_process, api = start_api(env, log_dir)
    with running(api_process), running(fresh_worker(env, log_dir)) as worker:
        wait_for_workers(worker)
        in_flight, path, gate = expect_completed(photo(image_server, database, held=True))
        assert post(api, in_flight).status_code == 202
        wait_until(lambda: image_server.hits(path) >= 1, timeout=30, message="download in flight")
        assert status_of(database, in_flight) == "processing"

        proxy.cut()
        fault("PostgreSQL connections cut, new ones refused")
        for route in ("/photos/pending", f"/photos/{in_flight}"):
            response = requests.get(f"{api}{route}", timeout=30)
            assert response.status_code == 503, (route, response.text)
            assert {"title", "description"} <= set(response.json())
        assert post(api, in_flight).status_code == 503
        status, body = health(api)
        assert status == 503
        assert body["database"]["status"] == "down"
        assert body["broker"]["status"] == "up"

        # A message sent during the outage, and the photo in flight: both retried with backoff.
        sent_during, _, _ = expect_completed(photo(image_server, database))
        actors_package.process_photo.send(sent_during)
        log_at = len(worker.logs())
        gate.set()
        wait_until(
            lambda: len(RETRY.findall(worker.logs()[log_at:])) >= 4,
            timeout=30,
            message="the worker retries while the database is down",
        )
        delays = [int(ms) for ms in RETRY.findall(worker.logs()[log_at:])]
        # With backoff: RETRY_MIN_BACKOFF_MS to RETRY_MAX_BACKOFF_MS, never a busy loop.
        assert all(200 <= delay <= 1000 for delay in delays), delays
        assert worker.alive()
        # The dead session took the photo's lock with it; the photo waits for its retry.
        assert status_of(database, in_flight) == "processing"
        assert not lock_held(database, in_flight)
        assert status_of(database, sent_during) == "pending"

        proxy.restore()
        wait_until(lambda: health(api)[0] == 200, timeout=60, message="/healthz recovered")
        assert requests.get(f"{api}/photos/pending", timeout=30).status_code == 200
        for photo_id in (in_flight, sent_during):
            wait_for_status(database, photo_id, "completed", "failed", timeout=30)
            assert_completed_once(database, thumbs_dir, photo_id)
        assert worker.alive()
        assert api_process.alive()
        assert "internal_error" not in worker.logs(), "an outage was taken for a bug of ours"


def expect_completed(made: tuple[str, str, Any]) -> tuple[str, str, Any]:
    expect(made[0], "completed")
    return made
