"""Re-rendering completed photos with real processes: `python -m service rerender`, a worker in
the re-render lane, the store and the webhook outbox. The photo stays completed and served
throughout; a kill, a DELETE, a second run or settings changed again half-way lose nothing
and leave no object its rows do not name."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from config import load_config
from harness import proc_tree
from harness.imageserver import ImageServer, Reply
from harness.polling import wait_until
from harness.queue import QueueProbe
from harness.service_processes import REPO, free_port
from pipeline.render_settings import RenderSettings
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import fresh_worker, hold, lock_held, running, thumbnail_files, wait_for_workers
from tests.support.commands import service_command
from tests.support.data import insert_photo, photo_row
from tests.support.images import photo_bytes

RERENDER_QUEUE = "photo-processor.rerender"
# The settings the photos are first completed with, and those they are re-rendered to.
BEFORE = {"RENDITIONS": "thumb:320", "RENDITION_FORMATS": "webp"}  # 2 renditions
AFTER = {"RENDITIONS": "sm:160,thumb:320", "RENDITION_FORMATS": "webp"}  # 4
AGAIN = {"RENDITIONS": "sm:160,thumb:320", "RENDITION_FORMATS": "none"}  # 2, JPEG only


def fingerprint(env: dict[str, str]) -> str:
    return RenderSettings.from_config(load_config(env)).fingerprint


def rendered_with(database: Database, photo_id: str) -> str:
    return str(
        database.execute_sql("SELECT rendered_with FROM photos WHERE uuid = %s", (photo_id,)).fetchone()[0]
    )


def rerender(env: dict[str, str], *args: str) -> str:
    """Run `python -m service rerender ARGS`; its standard output (it must succeed)."""
    done = service_command(env, "rerender", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def queued_count(output: str) -> int:
    found = re.search(r"(\d+) photo\(s\)", output)
    assert found, output
    return int(found.group(1))


def assert_files_are_its_rows(thumbs_dir: Path, database: Database, photo_id: str) -> dict[str, Any]:
    """The photo's objects in the store are exactly those its rows name: no orphan, none missing."""
    row = photo_row(database, photo_id)
    named = sorted(thumbs_dir / url for *_, url in row["renditions"])
    assert thumbnail_files(thumbs_dir, photo_id) == named
    return row


def completed_photos(
    env: dict[str, str], log_dir: Path, api: str, database: Database, image_server: ImageServer, count: int
) -> list[tuple[str, str]]:
    """`count` photos completed by a worker with BEFORE's settings; (uuid, source path) each.
    Only these photos are queued (by the API, not process-pending): earlier modules leave
    pending photos of sources long gone in the session's database, and queueing those would put
    their retries in front of these and of every later module's photos."""
    photos = []
    for _ in range(count):
        path = f"/rerender-{uuid.uuid4()}.jpg"
        photos.append((insert_photo(database, image_server.image(path, photo_bytes(900, 600))), path))
    with running(fresh_worker({**env, **BEFORE}, log_dir)):
        sent = requests.post(f"{api}/photos/process", json=[photo_id for photo_id, _ in photos], timeout=30)
        assert sent.status_code == 202, sent.text
        for photo_id, _ in photos:
            assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
    for photo_id, _ in photos:
        assert rendered_with(database, photo_id) == fingerprint({**env, **BEFORE})
    return photos


def created_at(database: Database, photo_ids: list[str]) -> str:
    """When the first of the photos was created: what --since takes to select them (and others
    made since, which the tests' own counts leave out by making theirs last)."""
    return str(
        database.execute_sql("SELECT min(created_at) FROM photos WHERE uuid = ANY(%s::uuid[])", (photo_ids,))
        .fetchone()[0]
        .isoformat()
    )


def events_of(database: Database, photo_id: str, kind: str) -> list[dict[str, Any]]:
    rows = database.execute_sql(
        "SELECT payload FROM webhook_events WHERE photo_uuid = %s AND type = %s ORDER BY id", (photo_id, kind)
    ).fetchall()
    return [payload for (payload,) in rows]


def test_rerender_replaces_the_renditions_while_the_photos_stay_completed_and_served(
    service_env: dict[str, str],
    log_dir: Path,
    api: str,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    photos = completed_photos(service_env, log_dir, api, database, image_server, 3)
    before = {photo_id: assert_files_are_its_rows(thumbs_dir, database, photo_id) for photo_id, _ in photos}
    assert all(len(row["renditions"]) == 2 for row in before.values())
    env = {**service_env, **AFTER}
    # Other photos of the database (other tests') may be stale too: count these by --since.
    since = created_at(database, [p for p, _ in photos])

    assert queued_count(rerender(env, "--dry-run", "--since", since)) == 3
    assert queued_count(rerender(env, "--since", since)) == 3
    assert queued_count(rerender(env, "--since", since)) == 0, "a second run queues nothing again"

    # Watch what the API serves while the lane works: always completed, with a full set.
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for photo_id, _ in photos:
                shown = requests.get(f"{api}/photos/{photo_id}", timeout=10).json()
                seen.append((shown["status"], len(shown["renditions"])))
            stop.wait(0.02)  # pacing the reads, not waiting for a condition

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with running(fresh_worker(env, log_dir)):
            wait_until(
                lambda: all(rendered_with(database, p) == fingerprint(env) for p, _ in photos),
                timeout=60,
                message="every photo re-rendered",
            )
    finally:
        stop.set()
        watcher.join()
    assert seen
    assert {status for status, _ in seen} == {"completed"}
    assert {count for _, count in seen} <= {2, 4}, "old set or new set, never a mix"

    for photo_id, _ in photos:
        row = assert_files_are_its_rows(thumbs_dir, database, photo_id)
        assert sorted((preset, fmt) for preset, fmt, *_ in row["renditions"]) == [
            ("sm", "jpeg"), ("sm", "webp"), ("thumb", "jpeg"), ("thumb", "webp"),
        ]  # fmt: skip
        [event] = events_of(database, photo_id, "photo.renditions_changed")
        assert sorted(t["url"] for t in event["thumbnails"]) == sorted(url for *_, url in row["renditions"])
        assert event["status"] == "completed"
        shown = requests.get(f"{api}/photos/{photo_id}", timeout=10).json()
        assert requests.get(f"{api}/thumbs/{shown['renditions'][0]['url']}", timeout=10).status_code == 200
    assert queued_count(rerender(env, "--dry-run", "--since", since)) == 0


def test_a_worker_killed_mid_rerender_keeps_the_old_renditions_and_rerenders_later(
    service_env: dict[str, str],
    log_dir: Path,
    api: str,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    [(photo_id, path)] = completed_photos(service_env, log_dir, api, database, image_server, 1)
    old = assert_files_are_its_rows(thumbs_dir, database, photo_id)
    env = {**service_env, **AFTER, "DOWNLOAD_TIMEOUT_S": "60"}
    gate = hold(image_server, path)
    hits = image_server.hits(path)
    with running(fresh_worker(env, log_dir)) as worker:
        [victim] = wait_for_workers(worker)
        assert queued_count(rerender(env, "--since", created_at(database, [photo_id]))) == 1
        wait_until(lambda: image_server.hits(path) > hits, timeout=30, message="the re-render's download")
        assert lock_held(database, photo_id)
        # What a crash between a write and the swap leaves: an object no row names.
        orphan = thumbs_dir / photo_id[:2] / photo_id / "sm.0123456789ab.jpg"
        orphan.write_bytes(b"\xff\xd8 written by the killed attempt")

        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: (pids := proc_tree.dramatiq_workers(worker.pid)) and victim not in pids,
            timeout=30,
            message="a new worker process",
        )
        after_kill = photo_row(database, photo_id)
        assert after_kill["status"] == "completed"
        assert after_kill["renditions"] == old["renditions"], "the old renditions stay until the swap"
        gate.set()
        wait_until(
            lambda: rendered_with(database, photo_id) == fingerprint(env),
            timeout=60,
            message="re-rendered by the redelivered message",
        )
    row = assert_files_are_its_rows(thumbs_dir, database, photo_id)
    assert len(row["renditions"]) == 4
    assert not orphan.exists()


def test_a_delete_during_a_rerender_waits_for_it_and_one_before_it_leaves_nothing(
    service_env: dict[str, str],
    log_dir: Path,
    api: str,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    [(during, path), (before, _)] = completed_photos(service_env, log_dir, api, database, image_server, 2)
    env = {**service_env, **AFTER, "DOWNLOAD_TIMEOUT_S": "60"}
    since = created_at(database, [during, before])
    # Deleted while its message waits in the lane: the message finds it gone.
    assert queued_count(rerender(env, "--since", since)) == 2
    assert requests.delete(f"{api}/photos/{before}", timeout=10).status_code == 204
    gate = hold(image_server, path)
    hits = image_server.hits(path)
    with running(fresh_worker(env, log_dir)):
        wait_until(lambda: image_server.hits(path) > hits, timeout=30, message="the re-render's download")
        # Deleted while the worker holds it: busy, and nothing changes.
        busy = requests.delete(f"{api}/photos/{during}", timeout=10)
        assert busy.status_code == 409, busy.text
        assert photo_row(database, during)["status"] == "completed"
        gate.set()
        wait_until(
            lambda: rendered_with(database, during) == fingerprint(env), timeout=60, message="re-rendered"
        )
        assert requests.delete(f"{api}/photos/{during}", timeout=10).status_code == 204
    assert thumbnail_files(thumbs_dir, during) == []
    assert thumbnail_files(thumbs_dir, before) == []


def test_two_rerender_runs_at_once_queue_each_photo_once(
    service_env: dict[str, str], database: Database, image_server: ImageServer
) -> None:
    url = image_server.image(f"/rerender-{uuid.uuid4()}.jpg", photo_bytes(64, 48))
    photos = {
        str(photo_id)
        for (photo_id,) in database.execute_sql(
            "INSERT INTO photos (url, status) SELECT %s, 'completed' FROM generate_series(1, 3000)"
            " RETURNING uuid",
            (url,),
        ).fetchall()
    }
    since = created_at(database, list(photos))
    env = {**service_env, **AFTER}
    probe = QueueProbe(service_env["AMQP_URI"], RERENDER_QUEUE, actor="rerender_photo")
    probe.purge()
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "service", "rerender", "--since", since, "--batch-size", "500"],
                cwd=REPO,
                env={"PATH": "/usr/bin:/bin", **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert sum(queued_count(out) for out, _ in outputs) == len(photos)
        queued = probe.photo_ids()
        assert sorted(queued) == sorted(photos), "each photo exactly once"
    finally:
        probe.purge()
        probe.close()


def test_settings_changed_again_mid_rerender_end_with_the_latest(
    service_env: dict[str, str],
    log_dir: Path,
    api: str,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    photos = completed_photos(service_env, log_dir, api, database, image_server, 3)
    _, held_path = photos[0]
    since = created_at(database, [p for p, _ in photos])
    first = {**service_env, **AFTER, "DOWNLOAD_TIMEOUT_S": "60"}
    latest = {**service_env, **AGAIN, "DOWNLOAD_TIMEOUT_S": "60"}
    gate = hold(image_server, held_path)
    hits = image_server.hits(held_path)
    with running(fresh_worker(first, log_dir)):
        assert queued_count(rerender(first, "--since", since)) == 3
        wait_until(lambda: image_server.hits(held_path) > hits, timeout=30, message="a re-render under way")
        # The operator changes the settings again: the worker restarts with them (stopping cuts
        # the held download, whose message is retried), and rerender runs for them.
    gate.set()
    with running(fresh_worker(latest, log_dir)):
        assert queued_count(rerender(latest, "--since", since)) == 3, "queued for the older settings: again"
        wait_until(
            lambda: all(rendered_with(database, p) == fingerprint(latest) for p, _ in photos),
            timeout=60,
            message="every photo at the latest settings",
        )
    for photo_id, _ in photos:
        row = assert_files_are_its_rows(thumbs_dir, database, photo_id)
        assert sorted((preset, fmt) for preset, fmt, *_ in row["renditions"]) == [
            ("sm", "jpeg"),
            ("thumb", "jpeg"),
        ]


@pytest.fixture(autouse=True)
def _no_left_over_lane(service_env: dict[str, str]) -> Any:
    """Each test starts with an empty re-render lane (an earlier test's messages are its own)."""
    probe = QueueProbe(service_env["AMQP_URI"], RERENDER_QUEUE, actor="rerender_photo")
    probe.purge()
    yield
    probe.purge()
    probe.close()


def test_duplicates_are_copied_originals_feed_the_rerender_and_a_delete_keeps_what_another_photo_names(
    service_env: dict[str, str],
    log_dir: Path,
    api: str,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    metrics = {"WORKER_METRICS_PORT": str(metrics_port), "dramatiq_prom_db": str(tmp_path)}
    env = {**service_env, **BEFORE, **metrics, "KEEP_ORIGINALS": "1"}
    # Bytes of this run's own (other tests serve the same picture): a JPEG comment makes them so.
    source = photo_bytes(900, 600, comment=uuid.uuid4().bytes)
    sha256 = hashlib.sha256(source).hexdigest()
    paths = [f"/same-{uuid.uuid4()}.jpg" for _ in range(2)]
    first = insert_photo(database, image_server.image(paths[0], source))
    second = insert_photo(database, image_server.image(paths[1], source))
    original = thumbs_dir / "originals" / sha256
    with running(fresh_worker(env, log_dir)):
        sent = requests.post(f"{api}/photos/process", json=[first, second], timeout=30)
        assert sent.status_code == 202, sent.text
        for photo_id in (first, second):
            assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
        rows = [assert_files_are_its_rows(thumbs_dir, database, p) for p in (first, second)]
        # The same renditions (names carry their digest), each photo's in its own folder.
        names = [sorted(url.rsplit("/", 1)[1] for *_, url in row["renditions"]) for row in rows]
        assert names[0] == names[1]
        assert {url.split("/")[1] for *_, url in rows[0]["renditions"]} == {first}
        assert {url.split("/")[1] for *_, url in rows[1]["renditions"]} == {second}
        # Fresh metrics (their own folder): one rendered, one copied.
        counted = wait_until(
            lambda: counts if sum((counts := source_counts(metrics_port)).values()) >= 2 else None,
            timeout=30,
            message="both photos in the worker's metrics",
        )
        assert counted == {"rendered": 1, "deduplicated": 1}
    assert original.read_bytes() == source
    assert kept_originals(database, [first, second]) == {first: sha256, second: sha256}

    # The sources are gone from the web: the re-render reads the originals.
    for path in paths:
        image_server.serve(path, Reply(status=404, body=b"gone"))
    hits = [image_server.hits(path) for path in paths]
    after = {**service_env, **AFTER, "KEEP_ORIGINALS": "1"}
    assert queued_count(rerender(after, "--since", created_at(database, [first, second]))) == 2
    with running(fresh_worker(after, log_dir)):
        wait_until(
            lambda: all(rendered_with(database, p) == fingerprint(after) for p in (first, second)),
            timeout=60,
            message="both re-rendered from their original",
        )
    assert [image_server.hits(path) for path in paths] == hits, "no source downloaded again"
    for photo_id in (first, second):
        assert len(assert_files_are_its_rows(thumbs_dir, database, photo_id)["renditions"]) == 4

    # A delete removes the original only with the last photo that has its bytes.
    assert requests.delete(f"{api}/photos/{first}", timeout=30).status_code == 204
    assert thumbnail_files(thumbs_dir, first) == []
    assert original.read_bytes() == source, "the second photo still has these bytes"
    assert len(assert_files_are_its_rows(thumbs_dir, database, second)["renditions"]) == 4
    assert requests.delete(f"{api}/photos/{second}", timeout=30).status_code == 204
    assert thumbnail_files(thumbs_dir, second) == []
    assert not original.exists()


def kept_originals(database: Database, photo_ids: list[str]) -> dict[str, str]:
    rows = database.execute_sql(
        "SELECT uuid::text, content_sha256 FROM photos WHERE uuid = ANY(%s::uuid[]) AND original_kept",
        (photo_ids,),
    ).fetchall()
    return dict(rows)


def source_counts(port: int) -> dict[str, int]:
    """photo_processor_sources_total by source, as the worker serves it."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.ConnectionError:
        return {}
    return {
        sample.labels["source"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "photo_processor_sources_total"
    }
