"""Workers on many hosts: two worker processes, each in a working directory of its own, and the
API in a third, sharing nothing but RabbitMQ, PostgreSQL and an S3 bucket (a real S3 server on
127.0.0.1). Every photo is completed once, by either worker, and served by the API; the S3 server
stopped mid-batch and started again: every photo still completes, none fails, none is doubled."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from peewee import Database

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.queue import QUEUE
from harness.s3server import S3Server
from harness.service_processes import ServiceProcess, start_api, start_worker
from harness.services import RunServices, consumers_of
from tests.e2e.reliability import expect, fault, hold, running
from tests.support.data import DEFAULT_RENDITIONS, insert_photo
from tests.support.images import photo_bytes

# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")

PREFIX = "thumbs/"
ANSWER_TIMEOUT_S = 10


@dataclass
class Hosts:
    """The three hosts: where each works, the workers, and the API's base URL."""

    dirs: dict[str, Path]
    workers: list[ServiceProcess]
    api: str
    bucket: str


@pytest.fixture(scope="module")
def hosts(
    service_env: dict[str, str],
    services: RunServices,
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
    log_dir: Path,
) -> Iterator[Hosts]:
    bucket = s3_server.new_bucket("hosts")
    dirs = {name: tmp_path_factory.mktemp(name) for name in ("host-a", "host-b", "host-c")}

    def host_env(name: str) -> dict[str, str]:
        # Nothing on a host's disk is another's: thumbnails folder and metrics files are its own.
        return {
            **service_env,
            **s3_server.env,
            "THUMBS_BUCKET": bucket,
            "THUMBS_PREFIX": PREFIX,
            "THUMBS_DIR": str(dirs[name] / "thumbs"),
            "dramatiq_prom_db": str(dirs[name] / "metrics"),
            "LOG_FORMAT": "json",
            "DOWNLOAD_TIMEOUT_S": "60",  # a held download stays in flight
        }

    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                running(start_worker(host_env(name), log_dir, name=f"worker-{name}", cwd=dirs[name]))
            )
            for name in ("host-a", "host-b")
        ]
        api_process, api = start_api(host_env("host-c"), log_dir, cwd=dirs["host-c"])
        stack.enter_context(running(api_process))
        wait_until(lambda: consumers_of(services, QUEUE) == 2, timeout=60, message="both workers consuming")
        yield Hosts(dirs, workers, api, bucket)


def _new_photos(image_server: ImageServer, database: Database, count: int) -> list[tuple[str, str]]:
    """`count` photos served at paths of their own: (photo UUID, path)."""
    photos = []
    for _ in range(count):
        path = f"/hosts-{uuid.uuid4()}.jpg"
        photo_id = insert_photo(database, image_server.image(path, photo_bytes(640, 480)))
        photos.append((expect(photo_id, "completed"), path))
    return photos


def _process(hosts: Hosts, photo_ids: list[str]) -> None:
    answer = requests.post(f"{hosts.api}/photos/process", json=photo_ids, timeout=ANSWER_TIMEOUT_S)
    assert answer.status_code == 202, answer.text
    assert sorted(answer.json()["queued"]) == sorted(photo_ids)


def _completed(database: Database, photo_ids: list[str]) -> int:
    return int(
        database.execute_sql(
            "SELECT count(*) FROM photos WHERE status = 'completed' AND uuid = ANY(%s::uuid[])", (photo_ids,)
        ).fetchone()[0]
    )


def _claimed_since_the_stop(database: Database, photos: list[tuple[str, str]]) -> int:
    """How many of `photos` a worker has tried and left waiting for the store."""
    return int(
        database.execute_sql(
            "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND failure_reason LIKE %s",
            ([photo_id for photo_id, _ in photos], "storage_error:%"),
        ).fetchone()[0]
    )


def _completions(worker: ServiceProcess) -> list[str]:
    """The photos this worker's log says it completed."""
    lines = [json.loads(line) for line in worker.logs().splitlines() if line.startswith("{")]
    return [line["photo"] for line in lines if line.get("outcome") == "completed"]


def _logged_completions(hosts: Hosts, photo_ids: list[str]) -> list[Counter[str]]:
    """Each worker's completions of `photo_ids`, once every photo is in some worker's log (a
    worker logs a photo just after committing it: the database may say so a moment earlier)."""

    def by_worker() -> list[Counter[str]]:
        return [Counter(p for p in _completions(worker) if p in photo_ids) for worker in hosts.workers]

    wait_until(
        lambda: set(sum(by_worker(), Counter())) == set(photo_ids), timeout=30, message="completions logged"
    )
    return by_worker()


def _assert_served_from_the_bucket(
    hosts: Hosts, database: Database, s3_server: S3Server, photo_ids: list[str]
) -> None:
    """Each photo has its rendition rows, their objects are in the bucket, and the API serves
    each: the seed's thumbnail (preset thumb, JPEG) by its url and by its preset."""
    objects = s3_server.objects(hosts.bucket)
    for photo_id in photo_ids:
        rows = database.execute_sql(
            "SELECT preset, format, url FROM photo_thumbnails WHERE photo_uuid = %s", (photo_id,)
        ).fetchall()
        assert len(rows) == DEFAULT_RENDITIONS
        for _, _, relpath in rows:
            assert PREFIX + relpath in objects, relpath
        [relpath] = [url for preset, fmt, url in rows if (preset, fmt) == ("thumb", "jpeg")]
        served = requests.get(f"{hosts.api}/thumbs/{relpath}", timeout=ANSWER_TIMEOUT_S)
        assert served.status_code == 200, relpath
        assert served.headers["Content-Type"] == "image/jpeg"
        assert served.content == objects[PREFIX + relpath]
        by_preset = requests.get(f"{hosts.api}/thumbs/{photo_id}/thumb", timeout=ANSWER_TIMEOUT_S)
        assert by_preset.content == served.content


def test_two_workers_on_hosts_of_their_own_complete_every_photo_once_and_the_api_serves_each(
    hosts: Hosts, database: Database, image_server: ImageServer, s3_server: S3Server
) -> None:
    photos = _new_photos(image_server, database, 12)
    photo_ids = [photo_id for photo_id, _ in photos]

    _process(hosts, photo_ids)
    wait_until(lambda: _completed(database, photo_ids) == len(photo_ids), timeout=120, message="batch done")

    by_worker = _logged_completions(hosts, photo_ids)
    assert all(by_worker), "each worker, on its own host, completed some of the photos"
    assert sum(by_worker, Counter()) == Counter(photo_ids), "every photo completed once, by one worker"
    _assert_served_from_the_bucket(hosts, database, s3_server, photo_ids)
    for name, folder in hosts.dirs.items():
        assert not [p for p in (folder / "thumbs").rglob("*") if p.is_file()], (
            f"no thumbnail on {name}'s disk"
        )


def test_the_s3_server_stopped_mid_batch_every_photo_still_completes_once(
    hosts: Hosts, database: Database, image_server: ImageServer, s3_server: S3Server
) -> None:
    # Two photos whose downloads are held, one on each worker: in flight when the store goes.
    in_flight = _new_photos(image_server, database, 2)
    gates = [hold(image_server, path) for _, path in in_flight]
    behind = _new_photos(image_server, database, 10)
    in_flight_ids = [photo_id for photo_id, _ in in_flight]
    photo_ids = in_flight_ids + [photo_id for photo_id, _ in behind]

    _process(hosts, in_flight_ids)
    wait_until(
        lambda: all(image_server.hits(path) >= 1 for _, path in in_flight), timeout=60, message="both held"
    )
    _process(hosts, [photo_id for photo_id, _ in behind])
    s3_server.stop()
    fault("s3_server_stopped")
    for gate in gates:
        gate.set()

    def waiting_for_the_store() -> bool:
        reasons = database.execute_sql(
            "SELECT failure_reason FROM photos WHERE uuid = ANY(%s::uuid[])", (in_flight_ids,)
        ).fetchall()
        return all(reason and "bucket" in reason for (reason,) in reasons)

    wait_until(waiting_for_the_store, timeout=60, message="both writes refused by the stopped store")
    # Each worker saw its write fail: from then on it checks the bucket before every download.
    wait_until(
        lambda: _claimed_since_the_stop(database, behind) >= 2,
        timeout=60,
        message="photos queued behind claimed while the store is down",
    )
    assert [image_server.hits(path) for _, path in behind] == [0] * len(behind), "none downloaded"
    failed = database.execute_sql(
        "SELECT count(*) FROM photos WHERE status = 'failed' AND uuid = ANY(%s::uuid[])", (photo_ids,)
    ).fetchone()[0]
    assert failed == 0, "an outage of the store fails no photo"

    s3_server.start()
    wait_until(lambda: _completed(database, photo_ids) == len(photo_ids), timeout=120, message="batch done")
    assert [image_server.hits(path) for _, path in in_flight] == [2, 2], (
        "written again once the store is back"
    )
    assert [image_server.hits(path) for _, path in behind] == [1] * len(behind)

    completions = sum(_logged_completions(hosts, photo_ids), Counter())
    assert completions == Counter(photo_ids), "every photo completed once"
    objects = {
        key
        for key in s3_server.objects(hosts.bucket)
        if key.split("/")[-2:-1] and key.split("/")[-2] in photo_ids
    }
    assert len(objects) == DEFAULT_RENDITIONS * len(photo_ids), "one object per rendition"
    _assert_served_from_the_bucket(hosts, database, s3_server, photo_ids)
