"""DELETE /photos/{uuid}: the photo, its thumbnail row and its file or object go, in an order that
never leaves a row without its file nor a file without a row; a photo a worker holds is a 409.

Photos are completed by the processor in-process (real database, real image server) into a real
folder or a real S3 server's bucket; the API answers in-process on the same store.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import falcon.testing
import psycopg2
import pytest
from peewee import Database

from api.app import create_app
from config import Config
from harness.imageserver import ImageServer
from harness.polling import wait_until
from pipeline import deletion
from pipeline.deletion import retry_removals
from pipeline.errors import StorageError
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.folder_store import FolderStore
from pipeline.locks import lock_key
from pipeline.processor import PhotoProcessor
from pipeline.render_settings import RenderSettings
from pipeline.renditions import make_renditions
from pipeline.storage import ThumbnailStore
from publishing import one_at_a_time
from tests.support.data import insert_photo, kept_and_counted, photo_row
from tests.support.images import photo_bytes


class FailingRemovals(FolderStore):
    """A folder store whose removals fail while `failing` is set, as a bucket's would in a blip."""

    failing = True

    def remove(self, photo_id: uuid.UUID, *, keep: Collection[str] = ()) -> None:
        if self.failing:
            raise StorageError("could not remove: the store blinked")
        super().remove(photo_id, keep=keep)


def _processor(config: Config, database: Database, store: ThumbnailStore) -> PhotoProcessor:
    return PhotoProcessor(
        db=database,  # type: ignore[arg-type]
        fetcher=Fetcher(FetchPolicy.from_config(config)),
        settings=RenderSettings.from_config(config),
        render=functools.partial(make_renditions, presets=config.presets, formats=config.extra_formats),
        store=store,
        max_attempts=4,
        max_crashes=3,
    )


# The renditions of a photo at the default settings: sm and thumb, in JPEG and WebP.
RENDITIONS = 4


def _client(config: Config, database: Database, store: ThumbnailStore) -> falcon.testing.TestClient:
    app = create_app(config, db=database, publish=one_at_a_time(print), store=store, health_checks={})
    return falcon.testing.TestClient(app)


def _completed(
    processor: PhotoProcessor, database: Database, image_server: ImageServer
) -> tuple[str, tuple[str, ...]]:
    """A completed photo: its UUID and its renditions' relpaths (the default RENDITIONS and
    RENDITION_FORMATS: four)."""
    photo_id = insert_photo(database, image_server.image(f"/delete-{uuid.uuid4()}.jpg", photo_bytes(64, 48)))
    assert processor.process(photo_id).result == "completed"
    relpaths = tuple(url for *_, url in photo_row(database, photo_id)["renditions"])
    assert len(relpaths) == RENDITIONS
    return photo_id, relpaths


def _stored(store: ThumbnailStore, relpaths: tuple[str, ...]) -> int:
    """How many of `relpaths` the store holds."""
    held = 0
    for relpath in relpaths:
        found = store.read(relpath)
        if found is not None and found.body is not None:
            found.body.close()
        held += found is not None
    return held


def _removals(database: Database, photo_id: str) -> int:
    return int(
        database.execute_sql(
            "SELECT count(*) FROM photo_removals WHERE photo_uuid = %s", (photo_id,)
        ).fetchone()[0]
    )


def _rows(database: Database, photo_id: str) -> tuple[int, int]:
    photos = database.execute_sql("SELECT count(*) FROM photos WHERE uuid = %s", (photo_id,)).fetchone()[0]
    thumbs = database.execute_sql(
        "SELECT count(*) FROM photo_thumbnails WHERE photo_uuid = %s", (photo_id,)
    ).fetchone()[0]
    return int(photos), int(thumbs)


@pytest.fixture(params=["folder", "bucket"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ThumbnailStore:
    if request.param == "folder":
        return FolderStore(tmp_path)
    from pipeline.bucket_store import BucketStore

    bucket_env: dict[str, str] = request.getfixturevalue("bucket_env")
    return BucketStore(bucket_env["THUMBS_BUCKET"])


def test_a_completed_photo_is_deleted_with_its_thumbnail_row_and_file(
    config: Config, database: Database, image_server: ImageServer, store: ThumbnailStore
) -> None:
    processor = _processor(config, database, store)
    photo_id, relpath = _completed(processor, database, image_server)
    other_id, other_relpath = _completed(processor, database, image_server)
    assert _stored(store, relpath) == RENDITIONS

    result = _client(config, database, store).simulate_delete(f"/photos/{photo_id.upper()}")

    assert result.status_code == 204
    assert result.text == ""
    assert _rows(database, photo_id) == (0, 0)
    assert _stored(store, relpath) == 0
    assert _removals(database, photo_id) == 0
    assert _rows(database, other_id) == (1, RENDITIONS), "the other photo is untouched"
    assert _stored(store, other_relpath) == RENDITIONS
    kept, counted = kept_and_counted(database)
    assert kept == counted == {"completed": 1}
    again = _client(config, database, store).simulate_delete(f"/photos/{photo_id}")
    assert again.status_code == 404


def test_photos_of_every_status_are_deleted_and_the_counts_stay_exact(
    config: Config, database: Database, tmp_path: Path
) -> None:
    client = _client(config, database, FolderStore(tmp_path))
    ids = [insert_photo(database, status=s) for s in ("pending", "processing", "failed", "pending")]
    for photo_id in ids[:3]:
        assert client.simulate_delete(f"/photos/{photo_id}").status_code == 204
    kept, counted = kept_and_counted(database)
    assert kept == counted == {"pending": 1}


@pytest.mark.parametrize(
    ("path", "status"),
    [(f"/photos/{uuid.uuid4()}", 404), ("/photos/not-a-uuid", 400), (f"/photos/{{{uuid.uuid4()}}}", 400)],
)
def test_an_unknown_photo_is_a_404_and_a_bad_uuid_a_400(
    config: Config, database: Database, tmp_path: Path, path: str, status: int
) -> None:
    kept_photo = insert_photo(database)
    result = _client(config, database, FolderStore(tmp_path)).simulate_delete(path)
    assert result.status_code == status
    assert {"title", "description"} <= set(result.json)
    assert _rows(database, kept_photo) == (1, 0)


def test_a_photo_whose_lock_another_session_holds_is_a_409_and_stays_whole(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path
) -> None:
    store = FolderStore(tmp_path)
    photo_id, relpath = _completed(_processor(config, database, store), database, image_server)
    client = _client(config, database, store)
    # The lock a worker takes while it processes the photo, held by another database session.
    key = lock_key(uuid.UUID(photo_id))
    worker_session = psycopg2.connect(config.pg_connection_uri)
    worker_session.autocommit = True
    try:
        with worker_session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
            busy = client.simulate_delete(f"/photos/{photo_id}")
            assert busy.status_code == 409
            assert busy.json["title"] == "Photo being processed"
            assert _rows(database, photo_id) == (1, RENDITIONS)
            assert _stored(store, relpath) == RENDITIONS
            # The worker is done. (Not by closing the session: its backend may outlive the close
            # by a moment, and its locks with it.)
            cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        worker_session.close()
    assert client.simulate_delete(f"/photos/{photo_id}").status_code == 204
    assert _stored(store, relpath) == 0


def test_a_removal_the_store_refused_is_recorded_then_retried_and_cleared(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path
) -> None:
    store = FailingRemovals(tmp_path)
    store.failing = False
    photo_id, relpath = _completed(_processor(config, database, store), database, image_server)
    store.failing = True

    result = _client(config, database, store).simulate_delete(f"/photos/{photo_id}")

    assert result.status_code == 204, "the photo is deleted: its file's removal is recorded"
    assert _rows(database, photo_id) == (0, 0)
    assert _stored(store, relpath) == RENDITIONS
    assert _removals(database, photo_id) == 1
    assert retry_removals(database, store, older_than_s=0) == 0, "the store still refuses"
    assert _removals(database, photo_id) == 1
    assert retry_removals(database, FolderStore(tmp_path)) == 0, "too young: its request may be at it"

    assert retry_removals(database, FolderStore(tmp_path), older_than_s=0) == 1
    assert _stored(store, relpath) == 0
    assert _removals(database, photo_id) == 0


def test_a_message_for_a_deleted_photo_is_simply_acknowledged(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path
) -> None:
    store = FolderStore(tmp_path)
    processor = _processor(config, database, store)
    photo_id = insert_photo(database, image_server.image(f"/delete-{uuid.uuid4()}.jpg", photo_bytes(64, 48)))
    assert _client(config, database, store).simulate_delete(f"/photos/{photo_id}").status_code == 204

    outcome: Any = processor.process(photo_id)

    assert outcome.result == "skipped_gone"
    assert list(tmp_path.rglob("*.*")) == [], "no thumbnail was made for it"


def _lock_holders(database: Database, photo_id: str) -> list[int]:
    """The backends holding the photo's advisory lock."""
    rows = database.execute_sql(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
        " AND ((classid::bigint << 32) | objid::bigint) = %s",
        (lock_key(uuid.UUID(photo_id)),),
    ).fetchall()
    return [int(row[0]) for row in rows]


@pytest.mark.parametrize("next_step", ["retried message", "failure hook"])
def test_a_file_written_by_a_worker_that_lost_its_session_to_a_delete_is_removed_next(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path, next_step: str
) -> None:
    store = FolderStore(tmp_path)
    processor = _processor(config, database, store)
    path = f"/delete-{uuid.uuid4()}.jpg"
    photo_id = insert_photo(database, image_server.image(path, photo_bytes(64, 48)))
    gate = image_server.hold(path)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            processor.process(photo_id)
        except BaseException as error:  # the test reads it
            errors.append(error)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        # Mid-download, the worker's database session dies, and its lock with it.
        wait_until(lambda: image_server.hits(path), message="the download began")
        (pid,) = wait_until(lambda: _lock_holders(database, photo_id), message="the worker holds the photo")
        database.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: not _lock_holders(database, photo_id), message="the lock went with the session")
        # So the delete goes through, with no file to remove yet, and clears its record.
        assert _client(config, database, store).simulate_delete(f"/photos/{photo_id}").status_code == 204
        assert _removals(database, photo_id) == 0
    finally:
        gate.set()
        worker.join()
    assert errors, "completing on the dead session raised, so the message is retried or failed"
    assert list(tmp_path.rglob(f"{photo_id}/*")), "the worker wrote its files after the delete"

    if next_step == "retried message":
        assert processor.process(photo_id).result == "skipped_gone"
    else:
        assert processor.fail(photo_id, "gave up") is False
    assert list(tmp_path.rglob("*.*")) == [], "no file is left without its row"


def test_of_two_deletes_at_once_the_later_waits_for_the_first_and_is_a_404_not_a_409(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path
) -> None:
    store = FolderStore(tmp_path)
    photo_id, _ = _completed(_processor(config, database, store), database, image_server)
    # The first delete, stopped in its transaction: the photo's row and advisory lock taken,
    # the row deleted, not yet committed.
    first = psycopg2.connect(config.pg_connection_uri)
    answers: list[int] = []
    try:
        with first.cursor() as cursor:
            cursor.execute(deletion._DELETE, (photo_id, lock_key(uuid.UUID(photo_id))))
            assert cursor.fetchone()[:2] == (True, True)  # held, deleted (then its hash)
            later = threading.Thread(
                target=lambda: answers.append(
                    _client(config, database, store).simulate_delete(f"/photos/{photo_id}").status_code
                )
            )
            later.start()
            wait_until(
                lambda: answers or _waiting_on_a_lock(database, first.info.backend_pid),
                message="the later delete waits for the first, or has answered",
            )
            first.commit()
            later.join()
    finally:
        first.close()
    assert answers == [404]
    assert _rows(database, photo_id) == (0, 0)


def _waiting_on_a_lock(database: Database, blocker: int) -> bool:
    """Whether some session waits for a lock that the session `blocker` holds."""
    return bool(
        database.execute_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (blocker,)
        ).fetchone()[0]
    )
