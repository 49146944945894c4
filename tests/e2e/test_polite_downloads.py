"""Polite downloads with a real worker: three source hosts (three ports of 127.0.0.1), one
refusing connections, one answering in 5 s, one healthy. The refusing host is paused (shown by
/stats), its photos wait without failing and spend no attempt while it is, and complete once
it is back; the slow host takes at most MAX_PER_HOST threads; the healthy host's photos all
complete meanwhile. The rates are the bench's (`python -m bench --only hosts` is not one: see
bench/RESULTS.md, "Polite downloads"); this test asserts outcomes only."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import requests
from peewee import Database

from harness.imageserver import ImageServer
from harness.polling import wait_until
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import fresh_worker, running
from tests.support.data import insert_photo
from tests.support.images import photo_bytes


def unused_port() -> int:
    """A port nothing listens on now (the refusing host's, until it comes back there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def statuses(database: Database, photo_ids: list[str]) -> dict[str, int]:
    rows = database.execute_sql(
        "SELECT status::text, count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) GROUP BY status", (photo_ids,)
    ).fetchall()
    return dict(rows)


def test_a_refusing_host_is_paused_its_photos_wait_unspent_and_complete_once_it_is_back(
    service_env: dict[str, str], log_dir: Path, api: str, database: Database, image_server: ImageServer
) -> None:
    source = photo_bytes(300, 200)
    healthy = [
        insert_photo(database, image_server.image(f"/polite-{uuid.uuid4()}.jpg", source)) for _ in range(8)
    ]
    slow_server = ImageServer().start()
    refusing_port = unused_port()
    refusing_host = f"127.0.0.1:{refusing_port}"
    back: ImageServer | None = None
    try:
        slow = [
            insert_photo(database, slow_server.image(f"/slow-{i}.jpg", source, delay_s=5.0)) for i in range(3)
        ]
        refusing = [insert_photo(database, f"http://{refusing_host}/gone-{i}.jpg") for i in range(4)]
        env = {
            **service_env,
            "MAX_PER_HOST": "2",
            "HOST_BREAKER_FAILURES": "2",
            "HOST_PAUSE_S": "1",
            "RETRY_MAX": "3",
            "RETRY_MIN_BACKOFF_MS": "100",
            "RETRY_MAX_BACKOFF_MS": "500",
        }
        with running(fresh_worker(env, log_dir, threads=4)):
            sent = requests.post(f"{api}/photos/process", json=refusing + slow + healthy, timeout=30)
            assert sent.status_code == 202, sent.text

            def paused() -> bool:
                shown = requests.get(f"{api}/stats", timeout=10).json()["paused_hosts"]
                return any(host["host"] == refusing_host for host in shown)

            wait_until(paused, timeout=60, message="the refusing host shown paused in /stats")
            for photo_id in healthy + slow:
                assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
            assert "failed" not in statuses(database, refusing), "paused, not failed"

            # The host comes back where it was: its photos complete, none failed.
            back = ImageServer(port=refusing_port).start()
            for i in range(4):
                back.image(f"/gone-{i}.jpg", source)
            for photo_id in refusing:
                assert wait_for_status(database, photo_id, "completed", "failed", timeout=90) == "completed"
        # While it was paused its photos waited without spending their budget: attempts that
        # tried nothing of the source are spared, and what they counted stayed within RETRY_MAX.
        rows = database.execute_sql(
            "SELECT attempts, spared FROM photos WHERE uuid = ANY(%s::uuid[])", (refusing,)
        ).fetchall()
        assert sum(spared for _, spared in rows) > 0, rows
        assert all(attempts - spared <= 4 for attempts, spared in rows), rows
        assert requests.get(f"{api}/stats", timeout=10).json()["paused_hosts"] == []
    finally:
        slow_server.stop()
        if back is not None:
            back.stop()
        database.execute_sql("DELETE FROM source_hosts")
