"""Faults of the pipeline's own making, through real workers: a photo that takes the worker down
every time, retries behind a backlog longer than the lease, a duplicate that finds its photo held
by a worker that then vanishes, a full thumbnail disk, and files left without their row."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from peewee import Database

from harness import proc_tree
from harness.imageserver import ImageServer, Reply
from harness.polling import wait_until
from harness.queue import QUEUE
from harness.service_processes import free_port, start_api
from harness.services import RunServices, messages_in
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import (
    expect,
    fault,
    fresh_worker,
    hold,
    rendition_paths,
    running,
    thumbnail_files,
    wait_for_workers,
)
from tests.support.data import insert_photo, photo_row, status_of
from tests.support.images import photo_bytes

# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


def new_photo(image_server: ImageServer, database: Database, *, held: bool = False) -> tuple[str, str, Any]:
    """A photo served at a path of its own; with `held`, its download waits for the gate."""
    path = f"/own-{uuid.uuid4()}.jpg"
    gate = hold(image_server, path) if held else None
    photo_id = insert_photo(database, image_server.image(path, photo_bytes(640, 480)))
    return photo_id, path, gate


def hits_reach(image_server: ImageServer, path: str, count: int) -> None:
    """Wait until `path` has been requested `count` times."""
    wait_until(lambda: image_server.hits(path) >= count, timeout=60, message=f"{count} downloads of {path}")


# --- 1. a photo that takes the worker down, every time -----------------------------------------


def test_a_photo_that_crashes_the_worker_fails_after_max_crashes_and_the_queue_moves_on(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
) -> None:
    poison, poison_path, _ = new_photo(image_server, database, held=True)
    expect(poison, "failed")
    behind = [expect(new_photo(image_server, database)[0], "completed") for _ in range(3)]
    with running(fresh_worker({**held_env, "MAX_CRASHES": "3"}, log_dir)) as worker:
        wait_for_workers(worker)
        for photo_id in [poison, *behind]:
            actors_package.process_photo.send(photo_id)
        for crash in range(1, 4):
            # Its download is in flight: the worker dies as a decoder crash or an OOM kill would.
            hits_reach(image_server, poison_path, crash)
            [victim] = wait_for_workers(worker)
            os.kill(victim, signal.SIGKILL)
            fault("worker killed by a poison photo")
            wait_until(
                lambda victim=victim: (pids := proc_tree.dramatiq_workers(worker.pid)) and victim not in pids,
                timeout=60,
                message="bin/supervise started the worker again",
            )

        assert wait_for_status(database, poison, "completed", "failed") == "failed"
        for photo_id in behind:
            assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
    row = photo_row(database, poison)
    assert row["failure_reason"].startswith("crashed: the worker stopped 3 times"), row["failure_reason"]
    assert (row["crashes"], image_server.hits(poison_path)) == (3, 3), "MAX_CRASHES downloads, no more"


def test_a_photo_posted_again_after_crashing_starts_a_fresh_count(
    service_env: dict[str, str], log_dir: Path, database: Database, image_server: ImageServer
) -> None:
    photo_id = expect(new_photo(image_server, database)[0], "completed")
    database.execute_sql(
        "UPDATE photos SET status = 'failed', attempts = 3, crashes = 3,"
        " failure_reason = 'crashed: the worker stopped 3 times' WHERE uuid = %s",
        (photo_id,),
    )
    api_process, api = start_api(service_env, log_dir)
    with running(api_process), running(fresh_worker(service_env, log_dir)):
        response = requests.post(f"{api}/photos/process", json=[photo_id], timeout=60)
        assert response.json()["queued"] == [photo_id]
        # Failed already: wait for completed alone (a crash verdict would leave it failed).
        wait_for_status(database, photo_id, "completed")
    assert (photo_row(database, photo_id)["attempts"], photo_row(database, photo_id)["crashes"]) == (1, 0)


# --- 3. retries behind a backlog longer than the lease -----------------------------------------


def test_a_retry_waiting_behind_a_long_backlog_fetches_its_source_at_most_retry_max_plus_one_times(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    services: RunServices,
) -> None:
    """LEASE_S=2 and a backlog that outlasts it: the reconciler sends the waiting photo again
    and again, and every one of those messages is spent against the one request's budget."""
    path = f"/always-503-{uuid.uuid4()}.jpg"
    first_answer = hold(image_server, path)
    failing = expect(insert_photo(database, image_server.serve(path, Reply(status=503))), "failed")
    backlog, backlog_path, gate = new_photo(image_server, database, held=True)
    expect(backlog, "completed")
    settings = {
        "LEASE_S": "2",
        "RETRY_MAX": "2",
        "RETRY_MIN_BACKOFF_MS": "100",
        "RETRY_MAX_BACKOFF_MS": "500",
    }
    with running(fresh_worker({**held_env, **settings}, log_dir)) as worker:
        wait_for_workers(worker)
        actors_package.process_photo.send(failing)
        hits_reach(image_server, path, 1)
        # Queued while the first attempt waits for its answer: the backlog is ahead of the retry.
        actors_package.process_photo.send(backlog)
        first_answer.set()
        hits_reach(image_server, backlog_path, 1)
        # The one worker thread is held by the backlog; the retry waits behind it, and the
        # reconciler queues the photo again at every lease.
        wait_until(
            lambda: len(re.findall(rf"Queued \d+ stranded photos again: .*{failing}", worker.logs())) >= 3,
            timeout=60,
            message="the reconciler queued the waiting photo again, three times",
        )
        fault("retry behind a backlog longer than LEASE_S")
        gate.set()
        assert wait_for_status(database, failing, "completed", "failed") == "failed"
        wait_for_status(database, backlog, "completed")
        # Every message sent for the photo (retries, the reconciler's) has been handled once the
        # queue and its delay queue hold nothing, acknowledged or not.
        wait_until(
            lambda: messages_in(services, QUEUE, f"{QUEUE}.DQ") == 0,
            timeout=60,
            message="every message handled",
        )
    assert image_server.hits(path) == 3, "RETRY_MAX + 1 downloads, whatever the backlog"
    assert photo_row(database, failing)["failure_reason"].startswith("source_unavailable")


# --- 4. a duplicate that finds its photo held by a worker that then vanishes -------------------


def test_a_duplicate_finding_the_photo_busy_checks_again_until_the_holder_is_gone(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
) -> None:
    """Worker A stops mid-download (SIGSTOP): RabbitMQ, missing its heartbeats, hands the message
    to worker B, which finds the photo locked by A's still-open session. A is then killed."""
    photo_id, path, gate = new_photo(image_server, database, held=True)
    expect(photo_id, "completed")
    a_env = {**held_env, "AMQP_URI": held_env["AMQP_URI"] + "?heartbeat=2"}
    b_logs = log_dir / f"b-{uuid.uuid4().hex[:8]}"
    b_logs.mkdir()
    with running(fresh_worker(a_env, log_dir)) as worker_a:
        [a] = wait_for_workers(worker_a)
        actors_package.process_photo.send(photo_id)
        hits_reach(image_server, path, 1)
        os.kill(a, signal.SIGSTOP)
        fault("worker stopped mid-download (SIGSTOP), its message redelivered")
        try:
            with running(fresh_worker(held_env, b_logs)) as worker_b:
                wait_until(
                    lambda: "Photo held by another worker; checking again" in worker_b.logs(),
                    timeout=60,
                    message="B found the photo held by A, and will check again",
                )
                assert status_of(database, photo_id) == "processing"
                os.killpg(worker_a.pid, signal.SIGKILL)  # A's machine is gone: its session with it
                fault("stopped worker killed")
                gate.set()
                assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
        finally:
            with contextlib.suppress(ProcessLookupError):  # gone with its group, unless a step failed
                os.kill(a, signal.SIGKILL)
    assert image_server.hits(path) == 2


# --- 5. a full thumbnail disk ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own (the tests run as root, as CI does), unmounted at the end."""
    mount = tmp_path / "thumbs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; return the file that does it."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_thumbnail_disk_is_an_outage_photos_wait_without_downloading_and_resume(
    service_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    small_disk: Path,
) -> None:
    metrics_port = free_port()
    env = {**service_env, "THUMBS_DIR": str(small_disk), "WORKER_METRICS_PORT": str(metrics_port)}
    made = [new_photo(image_server, database) for _ in range(3)]
    photo_ids = [expect(photo_id, "completed") for photo_id, _, _ in made]
    api_process, api = start_api(env, log_dir)
    with running(api_process), running(fresh_worker(env, log_dir)) as worker:
        wait_for_workers(worker)
        filler = fill(small_disk)
        fault("thumbnail disk full")
        health = requests.get(f"{api}/healthz", timeout=30)
        assert health.status_code == 503
        assert health.json()["storage"]["status"] == "down"
        assert requests.post(f"{api}/photos/process", json=photo_ids, timeout=60).status_code == 202
        wait_until(
            lambda: worker.logs().count("Photo attempt failed: thumbnail folder") >= 9,
            timeout=60,
            message="three tries of each photo while the disk is full",
        )
        assert [status_of(database, photo_id) for photo_id in photo_ids] == ["processing"] * 3
        assert [image_server.hits(path) for _, path, _ in made] == [0, 0, 0], "no download while full"
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text
        assert re.search(r'photo_processor_attempts_total\{outcome="storage_error"\} [1-9]', metrics)

        filler.unlink()
        for photo_id in photo_ids:
            assert wait_for_status(database, photo_id, "completed", "failed", timeout=60) == "completed"
        wait_until(lambda: requests.get(f"{api}/healthz", timeout=30).status_code == 200, timeout=30)
    assert [image_server.hits(path) for _, path, _ in made] == [1, 1, 1]
    for photo_id in photo_ids:
        row = photo_row(database, photo_id)
        assert thumbnail_files(small_disk, photo_id) == rendition_paths(small_disk, row)


# --- 7. no file without its row ----------------------------------------------------------------


def test_a_photo_deleted_while_it_is_processed_leaves_no_file(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    actors_package: Any,
) -> None:
    photo_id, path, gate = new_photo(image_server, database, held=True)
    with running(fresh_worker(held_env, log_dir)) as worker:
        wait_for_workers(worker)
        actors_package.process_photo.send(photo_id)
        hits_reach(image_server, path, 1)
        database.execute_sql("DELETE FROM photos WHERE uuid = %s", (photo_id,))
        fault("photo deleted while it was processed")
        gate.set()
        wait_until(
            lambda: re.search(
                rf"Photo skipped gone\..*{photo_id}|{photo_id}.*Photo skipped gone", worker.logs()
            ),
            timeout=60,
            message="the worker saw the photo was gone",
        )
    assert thumbnail_files(thumbs_dir, photo_id) == []


def test_renditions_of_another_format_on_reprocessing_replace_the_old_files(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    actors_package: Any,
) -> None:
    photo_id, path, _ = new_photo(image_server, database)
    expect(photo_id, "completed")
    with running(fresh_worker(held_env, log_dir)):
        actors_package.process_photo.send(photo_id)
        wait_for_status(database, photo_id, "completed")
        first = thumbnail_files(thumbs_dir, photo_id)
        assert sorted(file.suffix for file in first) == [".jpg", ".jpg", ".webp", ".webp"]

        # The source now has transparency (PNG in JPEG's place), and an operator processes it again.
        transparent = (Path(__file__).parents[1] / "corpus" / "pil123rgba.png").read_bytes()
        image_server.image(path, transparent, content_type="image/png")
        database.execute_sql("UPDATE photos SET status = 'pending' WHERE uuid = %s", (photo_id,))
        actors_package.process_photo.send(photo_id)
        wait_until(
            lambda: photo_row(database, photo_id)["thumbnails"][0][2].endswith(".png"),
            timeout=60,
            message="re-processed with PNG",
        )
    row = photo_row(database, photo_id)
    assert thumbnail_files(thumbs_dir, photo_id) == rendition_paths(thumbs_dir, row)
    assert not set(first) & set(thumbnail_files(thumbs_dir, photo_id)), "none of the old files is left"
