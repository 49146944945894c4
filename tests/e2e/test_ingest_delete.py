"""POST /photos and DELETE /photos/{uuid} through gunicorn, against a real worker.

The worker and the API share a THUMBS_DIR of their own, so the census of its files is exact.
"""

from __future__ import annotations

import collections
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from peewee import Database

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import ServiceProcess, start_api
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import fresh_worker, hold, lock_held, running, thumbnail_files
from tests.support.data import DEFAULT_RENDITIONS, kept_and_counted, photo_row
from tests.support.images import photo_bytes

RACE_PHOTOS = 80


@pytest.fixture(scope="module")
def own_thumbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest-thumbs")


@pytest.fixture(scope="module")
def env(service_env: dict[str, str], own_thumbs: Path) -> dict[str, str]:
    return {**service_env, "THUMBS_DIR": str(own_thumbs)}


@pytest.fixture(scope="module")
def own_api(env: dict[str, str], log_dir: Path) -> Iterator[str]:
    process, base_url = start_api(env, log_dir)
    with running(process):
        yield base_url


@pytest.fixture(scope="module")
def own_worker(env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    # A download held at the image server's gate waits for the test, never for a timeout (the
    # gate's own, 120 s, ends it first).
    slow_ok = {"DOWNLOAD_TIMEOUT_S": "150", "DOWNLOAD_DEADLINE_S": "150"}
    with running(fresh_worker({**env, **slow_ok}, log_dir, threads=2)) as process:
        yield process


def _images(image_server: ImageServer, n: int, *, delay_s: float = 0.0) -> list[str]:
    return [
        image_server.image(f"/ingest-{uuid.uuid4()}.jpg", photo_bytes(160, 120), delay_s=delay_s)
        for _ in range(n)
    ]


def _add(api: str, urls: list[str], *, process: bool = True) -> list[str]:
    result = requests.post(
        f"{api}/photos",
        params={"process": "true"} if process else {},
        json=[{"url": url} for url in urls],
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert result.status_code == 201, result.text
    ids = [photo["uuid"] for photo in result.json()["photos"]]
    assert result.json().get("queued") == (ids if process else None)
    return ids


def test_1000_urls_of_2048_characters_go_through_gunicorn_in_one_body(
    own_api: str, database: Database
) -> None:
    base = f"http://images.example/{uuid.uuid4()}/"
    urls = [base + f"{index:06d}".rjust(2048 - len(base), "a") for index in range(1000)]
    body = json.dumps([{"url": url} for url in urls]).encode()
    assert len(body) > 2_000_000, "near twice the 1 MiB the other routes accept"
    result = requests.post(
        f"{own_api}/photos",
        data=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
        timeout=60,
    )
    assert result.status_code == 201, result.text
    assert [photo["url"] for photo in result.json()["photos"]] == urls


def test_photos_added_with_process_true_are_completed_by_the_worker(
    own_api: str, own_worker: ServiceProcess, database: Database, image_server: ImageServer, own_thumbs: Path
) -> None:
    ids = _add(own_api, _images(image_server, 5))
    for photo_id in ids:
        wait_for_status(database, photo_id, "completed")
        (thumbnail,) = photo_row(database, photo_id)["thumbnails"]
        assert (own_thumbs / thumbnail[2]).is_file()


def test_a_photo_the_worker_is_processing_is_a_409_then_deleted_once_done(
    own_api: str, own_worker: ServiceProcess, database: Database, image_server: ImageServer, own_thumbs: Path
) -> None:
    path = f"/ingest-held-{uuid.uuid4()}.jpg"
    gate = hold(image_server, path)
    (photo_id,) = _add(own_api, [image_server.image(path, photo_bytes(160, 120))])
    wait_until(
        lambda: image_server.hits(path) > 0 and lock_held(database, photo_id), message="download in flight"
    )

    busy = requests.delete(f"{own_api}/photos/{photo_id}", timeout=30)
    assert busy.status_code == 409
    assert busy.json()["title"] == "Photo being processed"
    gate.set()
    wait_for_status(database, photo_id, "completed")
    assert len(thumbnail_files(own_thumbs, photo_id)) == DEFAULT_RENDITIONS

    # The worker lets go of the photo just after committing it.
    wait_until(lambda: not lock_held(database, photo_id), message="the worker let go of the photo")
    assert requests.delete(f"{own_api}/photos/{photo_id}", timeout=30).status_code == 204
    assert thumbnail_files(own_thumbs, photo_id) == []
    assert database.execute_sql("SELECT count(*) FROM photos WHERE uuid = %s", (photo_id,)).fetchone() == (0,)


def test_deletes_racing_the_worker_never_leave_a_row_without_its_file_nor_a_file_without_a_row(
    own_api: str, own_worker: ServiceProcess, database: Database, image_server: ImageServer, own_thumbs: Path
) -> None:
    paths = [f"/ingest-race-{uuid.uuid4()}.jpg" for _ in range(RACE_PHOTOS)]
    gates = [hold(image_server, path) for path in paths]
    ids = _add(own_api, [image_server.image(path, photo_bytes(160, 120), delay_s=0.1) for path in paths])
    doomed = sorted(random.Random(12).sample(ids, RACE_PHOTOS // 2), key=ids.index)  # queue order
    answers: collections.Counter[int] = collections.Counter()
    # Every download is held: the worker's 2 threads each claim a photo and wait at its gate,
    # and can claim no other until the gates open.
    wait_until(lambda: len(_processing(database, ids)) == 2, message="both worker threads hold a photo")
    blockers = _processing(database, ids)
    assert len(blockers) == 2, "no third photo claimed"
    assert all(lock_held(database, photo_id) for photo_id in blockers)

    def delete(photo_id: str) -> int:
        status = requests.delete(f"{own_api}/photos/{photo_id}", timeout=30).status_code
        answers[status] += 1
        assert status in (204, 409), status
        return status

    # Delete half of the photos while the worker goes through the batch, at every stage. One a
    # thread holds: 409, the photo whole. The last ones of the queue before their claim: 204.
    assert delete(blockers[0]) == 409
    assert database.execute_sql("SELECT count(*) FROM photos WHERE uuid = %s", (blockers[0],)).fetchone() == (
        1,
    )
    late = [photo_id for photo_id in doomed[len(doomed) // 2 :] if photo_id not in blockers]
    for photo_id in late:
        assert delete(photo_id) == 204
    # Then, the worker let go: of the others, one as soon as a worker took it (409 while it
    # holds it: tried again), the next once it is done.
    for gate in gates:
        gate.set()
    for index, photo_id in enumerate(photo_id for photo_id in doomed if photo_id not in late):
        wanted = ("processing", "completed", "failed") if index % 2 == 0 else ("completed", "failed")
        wait_for_status(database, photo_id, *wanted)
        wait_until(lambda photo_id=photo_id: delete(photo_id) == 204, message=f"{photo_id} deleted")
    print(f"DELETE answers while the worker ran: {dict(answers)}")
    assert answers[204] == len(doomed)
    assert answers[409] >= 1

    kept = [photo_id for photo_id in ids if photo_id not in set(doomed)]
    for photo_id in kept:
        wait_for_status(database, photo_id, "completed", "failed")
    for photo_id in doomed:
        assert thumbnail_files(own_thumbs, photo_id) == [], photo_id
    assert database.execute_sql(
        "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[])", (doomed,)
    ).fetchone() == (0,)
    assert database.execute_sql("SELECT count(*) FROM photo_removals").fetchone() == (0,)
    for photo_id in kept:
        row = photo_row(database, photo_id)
        assert row["status"] == "completed"
        assert len(row["renditions"]) == DEFAULT_RENDITIONS
        names = sorted(Path(url).name for *_, url in row["renditions"])
        assert [p.name for p in thumbnail_files(own_thumbs, photo_id)] == names
    files = {str(path.relative_to(own_thumbs)) for path in own_thumbs.rglob("*") if path.is_file()}
    rows = {str(url) for (url,) in database.execute_sql("SELECT url FROM photo_thumbnails").fetchall()}
    assert files <= rows, "every file below THUMBS_DIR has its row"
    kept_counts, counted = kept_and_counted(database)
    assert kept_counts == counted


def _processing(database: Database, ids: list[str]) -> list[str]:
    """Those of the photos that are 'processing' (claimed)."""
    rows = database.execute_sql(
        "SELECT uuid FROM photos WHERE uuid = ANY(%s::uuid[]) AND status = 'processing'", (ids,)
    ).fetchall()
    return [str(row[0]) for row in rows]


def test_the_worker_finishes_a_removal_the_api_left_behind(
    env: dict[str, str], log_dir: Path, database: Database, own_thumbs: Path
) -> None:
    # As if the API died between its commit and the file's removal: no row, a file, a record.
    photo_id = str(uuid.uuid4())
    left = own_thumbs / photo_id[:2] / f"{photo_id}.jpg"
    left.parent.mkdir(exist_ok=True)
    left.write_bytes(photo_bytes(32, 32))
    database.execute_sql(
        "INSERT INTO photo_removals (photo_uuid, created_at) VALUES (%s, now() - interval '1 hour')",
        (photo_id,),
    )
    # LEASE_S=2: the housekeeping thread runs every second.
    with running(fresh_worker({**env, "LEASE_S": "2"}, log_dir, name="housekeeping-worker")):
        wait_until(lambda: not left.exists(), timeout=60, message="the left file removed")
        wait_until(
            lambda: (
                database.execute_sql(
                    "SELECT count(*) FROM photo_removals WHERE photo_uuid = %s", (photo_id,)
                ).fetchone()
                == (0,)
            ),
            message="its record cleared",
        )
