"""From POST to thumbnail: the API, RabbitMQ, the worker process, PostgreSQL and the files."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

import requests
from peewee import Database
from PIL import Image

from harness.imageserver import ImageServer, Reply
from harness.service_processes import ServiceProcess
from tests.e2e.conftest import wait_for_status
from tests.support.data import insert_photo, photo_row
from tests.support.images import photo_bytes


def _process(api: str, *photo_ids: str) -> dict[str, Any]:
    response = requests.post(f"{api}/photos/process", json=list(photo_ids), timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_posted_photo_becomes_a_thumbnail_file_a_row_and_completed(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, thumbs_dir: Path
) -> None:
    url = image_server.image(f"/{uuid.uuid4()}.jpg", photo_bytes(1200, 800))
    photo_id = insert_photo(database, url)

    assert _process(api, photo_id) == {"queued": [photo_id], "skipped": []}

    assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
    row = photo_row(database, photo_id)
    [(width, height, relpath)] = row["thumbnails"]
    assert (width, height) == (320, 213)
    assert re.fullmatch(rf"{photo_id[:2]}/{photo_id}/thumb\.[0-9a-f]{{12}}\.jpg", relpath)
    with Image.open(thumbs_dir / relpath) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (320, 213)
    # And the other renditions of the default set: sm, and both in WebP.
    assert [(p, f, w, h) for p, f, w, h, _ in row["renditions"]] == [
        ("sm", "jpeg", 160, 107),
        ("sm", "webp", 160, 107),
        ("thumb", "jpeg", 320, 213),
        ("thumb", "webp", 320, 213),
    ]
    for *_, url in row["renditions"]:
        assert (thumbs_dir / url).is_file()
    assert row["failure_reason"] is None
    assert not list(thumbs_dir.glob("**/.*.tmp"))


def test_sources_answering_403_and_404_fail_with_the_reason_and_no_thumbnail(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer
) -> None:
    forbidden = insert_photo(database, image_server.serve(f"/{uuid.uuid4()}", Reply(status=403)))
    missing = insert_photo(database, image_server.url(f"/nothing-here-{uuid.uuid4()}.jpg"))

    _process(api, forbidden, missing)

    for photo_id, status in ((forbidden, 403), (missing, 404)):
        assert wait_for_status(database, photo_id, "completed", "failed") == "failed"
        row = photo_row(database, photo_id)
        assert row["thumbnails"] == []
        assert row["failure_reason"].startswith("source_http_error")
        assert str(status) in row["failure_reason"]
        assert row["attempts"] == 1, "a 4xx must not be retried"


def test_a_flaky_source_completes_after_a_retry(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer
) -> None:
    path = f"/{uuid.uuid4()}.jpg"
    url = image_server.serve(path, Reply(status=500), Reply(body=photo_bytes(640, 480)))
    photo_id = insert_photo(database, url)

    _process(api, photo_id)

    assert wait_for_status(database, photo_id, "completed", "failed") == "completed"
    assert image_server.hits(path) == 2
    row = photo_row(database, photo_id)
    assert row["attempts"] == 2
    assert [(w, h) for w, h, _ in row["thumbnails"]] == [(320, 240)]


def test_a_source_failing_every_time_is_failed_after_retry_max_retries(
    api: str,
    worker: ServiceProcess,
    database: Database,
    image_server: ImageServer,
    service_env: dict[str, str],
) -> None:
    path = f"/{uuid.uuid4()}.jpg"
    photo_id = insert_photo(database, image_server.serve(path, Reply(status=503)))

    _process(api, photo_id)

    assert wait_for_status(database, photo_id, "completed", "failed") == "failed"
    attempts = int(service_env["RETRY_MAX"]) + 1
    assert image_server.hits(path) == attempts
    row = photo_row(database, photo_id)
    assert row["attempts"] == attempts
    assert row["failure_reason"].startswith("source_unavailable")


def test_a_body_that_is_not_an_image_fails_the_photo(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer
) -> None:
    html = b"<!doctype html><title>Error</title><p>Something went wrong</p>"
    url = image_server.serve(f"/{uuid.uuid4()}.jpg", Reply(body=html, content_type="text/html"))
    photo_id = insert_photo(database, url)

    _process(api, photo_id)

    assert wait_for_status(database, photo_id, "completed", "failed") == "failed"
    row = photo_row(database, photo_id)
    assert row["failure_reason"].startswith("not_an_image")
    assert row["attempts"] == 1


def test_a_message_for_a_completed_photo_changes_nothing(
    api: str,
    worker: ServiceProcess,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    thumbs_dir: Path,
) -> None:
    path = f"/{uuid.uuid4()}.jpg"
    photo_id = insert_photo(database, image_server.image(path, photo_bytes(500, 500)))
    _process(api, photo_id)
    wait_for_status(database, photo_id, "completed")
    [(_, _, relpath)] = photo_row(database, photo_id)["thumbnails"]
    written = (thumbs_dir / relpath).stat().st_mtime_ns

    # Straight to the queue, as a duplicate delivery would be (the API itself skips completed photos).
    actors_package.process_photo.send(photo_id)
    marker = insert_photo(database, image_server.image(f"/{uuid.uuid4()}.jpg", photo_bytes(64, 64)))
    actors_package.process_photo.send(marker)
    wait_for_status(database, marker, "completed")  # one thread, FIFO: the duplicate went first

    assert image_server.hits(path) == 1
    row = photo_row(database, photo_id)
    assert len(row["thumbnails"]) == 1
    assert row["attempts"] == 1
    assert (thumbs_dir / relpath).stat().st_mtime_ns == written


def test_demo_photos_complete_except_the_missing_one_and_the_html_page(
    api: str, worker: ServiceProcess, database: Database, thumbs_dir: Path
) -> None:
    from api.demo import DEMO_FILES, load_demo_photos

    database.execute_sql("DELETE FROM photos WHERE url LIKE %s", ("%/demo/%",))
    load_demo_photos(database, f"{api}/demo/")
    ids = {
        url.rsplit("/", 1)[1]: str(photo_id)
        for photo_id, url in database.execute_sql(
            "SELECT uuid, url FROM photos WHERE url LIKE %s", ("%/demo/%",)
        )
    }
    assert sorted(ids) == sorted(DEMO_FILES)

    for photo_id in ids.values():
        assert requests.get(f"{api}/photos/{photo_id}", timeout=10).json()["status"] == "pending"
    _process(api, *ids.values())

    for name, photo_id in ids.items():
        expected = "failed" if name in ("missing.jpg", "not-an-image.html") else "completed"
        assert wait_for_status(database, photo_id, "completed", "failed") == expected, name
        for width, height, relpath in photo_row(database, photo_id)["thumbnails"]:
            with Image.open(io.BytesIO((thumbs_dir / relpath).read_bytes())) as image:
                assert image.size == (width, height), name
                assert max(image.size) <= 320, name
