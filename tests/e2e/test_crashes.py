"""Crashes and stops of the worker: killed mid-photo (alone and under honcho), photos stranded
with no message (the reconciler), and SIGTERM while a photo is in flight.

Every worker here is one of this module's own, with a read timeout long enough that a held
download stays in flight until the test releases it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from peewee import Database

from harness import proc_tree
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import REPO
from tests.e2e.conftest import Honcho, wait_for_status
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

# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


def held_photo(image_server: ImageServer, database: Database) -> tuple[str, str, Any]:
    """A photo whose download waits, once started, until the returned gate is set."""
    path = f"/held-{uuid.uuid4()}.jpg"
    gate = hold(image_server, path)
    photo_id = insert_photo(database, image_server.image(path, photo_bytes(800, 600)))
    return photo_id, path, gate


def in_flight(image_server: ImageServer, path: str, hits: int = 1) -> None:
    wait_until(lambda: image_server.hits(path) >= hits, timeout=30, message=f"download {hits} of {path}")


def assert_one_thumbnail(database: Database, thumbs_dir: Path, photo_id: str) -> dict[str, Any]:
    """Completed, with exactly one row per rendition and one file each (the seed's thumbnail one
    of them), and no temporary file."""
    row = photo_row(database, photo_id)
    assert row["status"] == "completed"
    assert len(row["thumbnails"]) == 1, row["thumbnails"]
    assert len(row["renditions"]) == DEFAULT_RENDITIONS, row["renditions"]
    assert thumbnail_files(thumbs_dir, photo_id) == rendition_paths(thumbs_dir, row)
    return row


# --- killed mid-photo --------------------------------------------------------------------------


def test_a_worker_killed_mid_download_is_started_again_and_the_photo_completes_once(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    with running(fresh_worker(held_env, log_dir)) as worker:
        [victim] = wait_for_workers(worker)
        master = proc_tree.dramatiq_master(worker.pid)
        photo_id, path, gate = held_photo(image_server, database)
        expect(photo_id, "completed")
        actors_package.process_photo.send(photo_id)
        in_flight(image_server, path)
        assert status_of(database, photo_id) == "processing"

        os.kill(victim, signal.SIGKILL)
        fault("worker SIGKILL mid-download")

        # Nobody restarts it by hand: bin/supervise starts a new master, with a new worker.
        wait_until(
            lambda: (pids := proc_tree.dramatiq_workers(worker.pid)) and victim not in pids,
            timeout=30,
            message="a new worker process",
        )
        assert worker.alive()
        assert proc_tree.dramatiq_master(worker.pid) != master
        gate.set()

        wait_for_status(database, photo_id, "completed", "failed")
        row = assert_one_thumbnail(database, thumbs_dir, photo_id)
        assert row["attempts"] == 2, "claimed by the killed worker, then by the redelivered message"
        assert image_server.hits(path) == 2


def test_under_honcho_a_killed_worker_comes_back_and_the_api_keeps_serving(
    held_env: dict[str, str],
    start_honcho: Honcho,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    """`make start` runs `honcho start`, which stops every process as soon as one exits."""
    honcho, api = start_honcho(held_env)
    with running(honcho.start()):
        wait_until(lambda: _healthy(api), timeout=60, message="API under honcho")
        [victim] = wait_for_workers(honcho, timeout=60)
        photo_id, path, gate = held_photo(image_server, database)
        expect(photo_id, "completed")
        response = requests.post(f"{api}/photos/process", json=[photo_id], timeout=30)
        assert response.status_code == 202, response.text
        in_flight(image_server, path)

        os.kill(victim, signal.SIGKILL)
        fault("worker SIGKILL mid-download under honcho")

        # While the worker is down and coming back, honcho and the API stay up.
        wait_until(lambda: "exited with code" in honcho.logs(), timeout=30, message="supervise saw the exit")
        assert honcho.alive(), "honcho stopped: one process exiting took the whole group down"
        assert _healthy(api)
        assert requests.get(f"{api}/photos/{photo_id}", timeout=10).json()["status"] == "processing"
        wait_until(
            lambda: (pids := proc_tree.dramatiq_workers(honcho.pid)) and victim not in pids,
            timeout=30,
            message="a new worker process under honcho",
        )
        gate.set()

        wait_for_status(database, photo_id, "completed", "failed")
        assert_one_thumbnail(database, thumbs_dir, photo_id)
        assert honcho.alive()
        assert _healthy(api)


def test_under_honcho_a_stop_mid_download_ends_before_honcho_would_send_sigkill(
    held_env: dict[str, str],
    start_honcho: Honcho,
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
) -> None:
    """Ctrl-C under `make start`, or `docker stop`: honcho sends SIGTERM to each process group and
    SIGKILL to what is left 5 s later. It must never need to, whatever the worker was doing."""
    honcho, api = start_honcho(held_env)
    photo_id, path, gate = held_photo(image_server, database)
    expect(photo_id, "completed")
    with running(honcho.start()):
        wait_until(lambda: _healthy(api), timeout=60, message="API under honcho")
        wait_for_workers(honcho, timeout=60)
        response = requests.post(f"{api}/photos/process", json=[photo_id], timeout=30)
        assert response.status_code == 202, response.text
        in_flight(image_server, path)
        below = proc_tree.descendants(honcho.pid)

        honcho.signal(signal.SIGTERM)
        fault("SIGTERM to honcho mid-download")
        # The deadline that matters is honcho's own: the test only waits, generously, for it to end.
        assert honcho.proc is not None
        honcho.proc.wait(timeout=60)
        assert "sending SIGKILL" not in honcho.logs(), "honcho had to kill what did not stop in 5 s"
        assert not any(map(proc_tree.alive, below))

    assert status_of(database, photo_id) in ("processing", "completed")
    assert not lock_held(database, photo_id)
    gate.set()
    with running(fresh_worker(held_env, log_dir)):
        wait_for_status(database, photo_id, "completed", "failed")
        assert_one_thumbnail(database, thumbs_dir, photo_id)


def _healthy(api: str) -> bool:
    try:
        return requests.get(f"{api}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# --- stranded photos: the reconciler -----------------------------------------------------------


def stranded_photo(database: Database, image_server: ImageServer) -> str:
    """A photo left in 'processing' an hour ago by a worker that is gone, with no message left."""
    url = image_server.image(f"/stranded-{uuid.uuid4()}.jpg", photo_bytes(640, 480))
    photo_id = insert_photo(database, url)
    database.execute_sql(
        "UPDATE photos SET status = 'processing', attempts = 1, claimed_at = now() - interval '1 hour'"
        " WHERE uuid = %s",
        (photo_id,),
    )
    fault("photo stranded in processing, message lost")
    return expect(photo_id, "completed")


def test_the_reconciler_thread_queues_a_stranded_photo_again_once_its_lease_expired(
    held_env: dict[str, str], log_dir: Path, database: Database, image_server: ImageServer, thumbs_dir: Path
) -> None:
    photo_id = stranded_photo(database, image_server)
    assert not lock_held(database, photo_id)
    # LEASE_S=2: the reconciler thread runs every second (max(1, LEASE_S/4)).
    with running(fresh_worker({**held_env, "LEASE_S": "2"}, log_dir)) as worker:
        wait_for_status(database, photo_id, "completed", "failed", timeout=30)
        assert_one_thumbnail(database, thumbs_dir, photo_id)
        assert photo_row(database, photo_id)["attempts"] == 2
        assert re.search(rf"Queued \d+ stranded photos again: .*{photo_id}", worker.logs()), (
            "the thread did it"
        )


def test_the_reconcile_command_queues_a_stranded_photo_but_not_one_a_live_worker_holds(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    """`python -m service reconcile`, with a worker running (its own reconciler waits 60 s)."""
    with running(fresh_worker(held_env, log_dir, threads=2)) as worker:
        wait_for_workers(worker)
        held, path, gate = held_photo(image_server, database)
        expect(held, "completed")
        actors_package.process_photo.send(held)
        in_flight(image_server, path)
        # Its claim looks as old as the stranded photo's, but a live worker holds its lock.
        database.execute_sql(
            "UPDATE photos SET claimed_at = now() - interval '1 hour' WHERE uuid = %s", (held,)
        )
        assert lock_held(database, held)
        stranded = stranded_photo(database, image_server)

        result = subprocess.run(
            [sys.executable, "-m", "service", "reconcile"],
            cwd=REPO,
            env={**os.environ, **held_env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert re.search(r"^[1-9]\d* stranded photo\(s\) queued again$", result.stdout, re.M), result.stdout
        assert stranded in result.stderr
        assert held not in result.stderr

        wait_for_status(database, stranded, "completed", "failed")
        assert_one_thumbnail(database, thumbs_dir, stranded)
        gate.set()
        wait_for_status(database, held, "completed", "failed")
        row = assert_one_thumbnail(database, thumbs_dir, held)
        assert (row["attempts"], image_server.hits(path)) == (1, 1), "the held photo ran once"


# --- graceful stop -----------------------------------------------------------------------------


def test_sigterm_to_the_dramatiq_master_lets_the_photo_in_flight_complete_then_exits(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    """With time to finish (WORKER_SHUTDOWN_MS): a minute here, so that when the test releases the
    download does not matter; the default, under honcho's 5 s, is the next test's."""
    with running(
        fresh_worker({**held_env, "WORKER_SHUTDOWN_MS": "60000"}, log_dir, supervised=False)
    ) as worker:
        wait_for_workers(worker)
        photo_id, path, gate = held_photo(image_server, database)
        expect(photo_id, "completed")
        actors_package.process_photo.send(photo_id)
        in_flight(image_server, path)

        worker.signal(signal.SIGTERM)  # the master alone, once, as `kill <pid>` would
        fault("SIGTERM to the worker mid-download")
        wait_until(lambda: "Stopping worker process" in worker.logs(), timeout=10, message="stopping")
        assert worker.alive(), "the worker waits for the photo in flight"
        gate.set()

        assert worker.proc is not None
        assert worker.proc.wait(timeout=30) == 0
        assert status_of(database, photo_id) == "completed"
        row = assert_one_thumbnail(database, thumbs_dir, photo_id)
        assert row["attempts"] == 1


def test_a_stopping_worker_cuts_the_download_in_flight_and_its_message_is_retried_not_failed(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    """One SIGTERM, as the worker process often sees honcho's (sent to the group, it merges with
    the one the master passes on): at half of WORKER_SHUTDOWN_MS the download still running is
    cut, and the message retried even with RETRY_MAX=0, since stopping is not the photo's fault."""
    no_retries = {**held_env, "RETRY_MAX": "0"}
    photo_id, path, gate = held_photo(image_server, database)
    expect(photo_id, "completed")
    with running(fresh_worker(no_retries, log_dir, supervised=False)) as worker:
        wait_for_workers(worker)
        actors_package.process_photo.send(photo_id)
        in_flight(image_server, path)

        worker.signal(signal.SIGTERM)
        fault("SIGTERM to the worker mid-download, its download cut")
        assert worker.proc is not None
        assert worker.proc.wait(timeout=5) == 0, "exited before honcho's SIGKILL would come, 5 s on"
        logs = worker.logs()
    assert re.search(
        rf"download cut: the worker is stopping\. photo={photo_id} .*outcome=worker_stopping", logs
    )
    assert re.search(r"Retrying message '[0-9a-f-]+' in \d+ milliseconds", logs), "retried, not failed"
    assert "Photo failed" not in logs
    assert status_of(database, photo_id) == "processing"
    assert not lock_held(database, photo_id)

    gate.set()
    with running(fresh_worker(no_retries, log_dir)):
        wait_for_status(database, photo_id, "completed", "failed")
        row = assert_one_thumbnail(database, thumbs_dir, photo_id)
        assert (row["attempts"], image_server.hits(path)) == (2, 2), "the cut attempt, then the retry"


def test_sigterm_to_the_whole_group_as_honcho_sends_it_exits_promptly_and_the_photo_is_not_stuck(
    held_env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    photo_id, path, gate = held_photo(image_server, database)
    expect(photo_id, "completed")
    with running(fresh_worker(held_env, log_dir)) as worker:
        wait_for_workers(worker)
        group = [worker.pid, *proc_tree.descendants(worker.pid)]
        actors_package.process_photo.send(photo_id)
        in_flight(image_server, path)

        os.killpg(worker.pid, signal.SIGTERM)
        fault("SIGTERM to the worker's process group mid-download")
        # honcho sends SIGKILL 5 s after SIGTERM: the group must be gone before that.
        wait_until(lambda: not any(map(proc_tree.alive, group)), timeout=5, message="the group exited")
        assert worker.proc is not None
        assert worker.proc.poll() is not None

    # Left 'processing' with nobody holding it (its message went back to the queue), or completed.
    assert status_of(database, photo_id) in ("processing", "completed")
    assert not lock_held(database, photo_id)
    gate.set()
    with running(fresh_worker(held_env, log_dir)):
        wait_for_status(database, photo_id, "completed", "failed")
        assert_one_thumbnail(database, thumbs_dir, photo_id)
