"""Concurrency and duplicates: 2 worker processes x 2 threads, every message sent twice.

The worker writes to a THUMBS_DIR of its own, so the census of files below it is exact.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import Database
from PIL import Image

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.queue import QUEUE
from harness.service_processes import ServiceProcess
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import expect, fault, fresh_worker, hold, running, wait_for_workers
from tests.support.data import DEFAULT_RENDITIONS, insert_photo, photo_row
from tests.support.images import photo_bytes

PHOTOS = 200


# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


@pytest.fixture(scope="module")
def own_thumbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("concurrency-thumbs")


@pytest.fixture(scope="module")
def workers(service_env: dict[str, str], log_dir: Path, own_thumbs: Path) -> Iterator[ServiceProcess]:
    env = {**service_env, "THUMBS_DIR": str(own_thumbs), "DOWNLOAD_TIMEOUT_S": "60"}
    with running(fresh_worker(env, log_dir, processes=2, threads=2)) as process:
        wait_for_workers(process, 2)
        yield process


def queued_messages(vhost: str) -> int:
    """Messages RabbitMQ holds on the photo queues, ready or delivered and not yet acknowledged."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    counts = dict(line.split("\t") for line in out.strip().splitlines() if "\t" in line)
    return sum(int(counts.get(name, "0")) for name in (QUEUE, f"{QUEUE}.DQ"))


def test_two_hundred_photos_each_sent_twice_end_completed_with_one_row_and_one_file_each(
    workers: ServiceProcess,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    own_thumbs: Path,
    services: Any,
) -> None:
    body = photo_bytes(400, 300)
    paths = {}
    for _ in range(PHOTOS):
        path = f"/many-{uuid.uuid4()}.jpg"
        photo_id = expect(insert_photo(database, image_server.image(path, body)), "completed")
        paths[photo_id] = path
    photo_ids = list(paths)

    send = actors_package.process_photo.send
    for index, photo_id in enumerate(photo_ids):
        send(photo_id)
        if index % 2 == 0:
            send(photo_id)  # the duplicate right behind: both copies in flight at once
    for photo_id in photo_ids[1::2]:
        send(photo_id)  # the duplicate late: most find the photo completed
    fault("duplicate message", PHOTOS)

    wait_until(
        lambda: (
            database.execute_sql(
                "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND status = 'completed'",
                (photo_ids,),
            ).fetchone()[0]
            == PHOTOS
        ),
        timeout=120,
        interval=0.2,
        message=f"{PHOTOS} photos completed",
    )
    # Every copy handled (acknowledged) before the census: a late duplicate changed nothing.
    wait_until(
        lambda: queued_messages(services.vhost) == 0, timeout=60, interval=0.5, message="queue drained"
    )

    rows = dict(
        database.execute_sql(
            "SELECT p.uuid::text, array_agg(t.url) FILTER (WHERE t.url IS NOT NULL)"
            " FROM photos p LEFT JOIN photo_thumbnails t ON t.photo_uuid = p.uuid"
            " WHERE p.uuid = ANY(%s::uuid[]) GROUP BY p.uuid",
            (photo_ids,),
        ).fetchall()
    )
    assert {photo_id: len(urls or []) for photo_id, urls in rows.items()} == dict.fromkeys(
        photo_ids, DEFAULT_RENDITIONS
    )
    attempts = dict(
        database.execute_sql(
            "SELECT uuid::text, attempts FROM photos WHERE uuid = ANY(%s::uuid[])", (photo_ids,)
        ).fetchall()
    )
    assert attempts == dict.fromkeys(photo_ids, 1), "a photo was claimed twice"
    assert {image_server.hits(path) for path in paths.values()} == {1}, "a photo was downloaded twice"

    # The census of THUMBS_DIR: one finished file per rendition, each named by a row, nothing else.
    files = sorted(str(f.relative_to(own_thumbs)) for f in own_thumbs.rglob("*") if f.is_file())
    assert not [name for name in files if Path(name).name.startswith(".") or name.endswith(".tmp")]
    ours = sorted(url for urls in rows.values() for url in urls)
    assert [name for name in files if name in ours] == ours
    for name in ours:  # whole files: each decodes to the end, at its preset's size
        with Image.open(own_thumbs / name) as image:
            image.load()
            assert image.size == ((320, 240) if "/thumb." in name else (160, 120))
    others = [name for name in files if name not in ours]
    if others:  # a stray message for another test's photo may land here: it must have its row
        known = {
            url
            for (url,) in database.execute_sql(
                "SELECT url FROM photo_thumbnails WHERE url = ANY(%s)", (others,)
            ).fetchall()
        }
        assert set(others) <= known, f"files without a row: {sorted(set(others) - known)}"
    assert workers.alive()


def test_a_duplicate_delivered_while_a_live_worker_holds_the_photo_is_skipped(
    workers: ServiceProcess,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    own_thumbs: Path,
) -> None:
    path = f"/held-{uuid.uuid4()}.jpg"
    gate = hold(image_server, path)
    photo_id = expect(insert_photo(database, image_server.image(path, photo_bytes(500, 400))), "completed")
    actors_package.process_photo.send(photo_id)
    wait_until(lambda: image_server.hits(path) >= 1, timeout=30, message="download in flight")

    actors_package.process_photo.send(photo_id)
    fault("duplicate message while the photo is in flight")
    busy = re.compile(rf"^.*(skipped.busy.*{photo_id}|{photo_id}.*skipped.busy).*$", re.M)
    wait_until(lambda: busy.search(workers.logs()), timeout=30, message="the duplicate was skipped")
    gate.set()

    wait_for_status(database, photo_id, "completed", "failed")
    row = photo_row(database, photo_id)
    assert row["status"] == "completed"
    assert (row["attempts"], image_server.hits(path)) == (1, 1), "two workers worked on one photo"
    [(_, _, relpath)] = row["thumbnails"]
    assert (own_thumbs / relpath).is_file()
