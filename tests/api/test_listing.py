"""GET /photos (any status, paged), GET /stats and the thumbnail files at /thumbs/."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import falcon.testing
from peewee import Database

from api.app import create_app
from config import Config
from pipeline.folder_store import FolderStore
from pipeline.storage import thumbnail_relpath
from publishing import one_at_a_time
from tests.support.data import insert_photo

TOKEN = "thumbnail-test-token"


def _complete(database: Database, thumbs_dir: Path, photo_id: str, data: bytes = b"\xff\xd8jpeg") -> str:
    relpath = FolderStore(thumbs_dir).write(thumbnail_relpath(uuid.UUID(photo_id), ".jpg"), data)
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " VALUES (%s, 'thumb', 'jpeg', 320, 240, %s)",
        (photo_id, relpath),
    )
    database.execute_sql("UPDATE photos SET status = 'completed' WHERE uuid = %s", (photo_id,))
    return relpath


def test_photos_lists_every_status_with_thumbnails_and_filters_by_status(
    client: falcon.testing.TestClient, database: Database, thumbs_dir: Path
) -> None:
    pending = insert_photo(database)
    failed = insert_photo(database, status="failed")
    completed = insert_photo(database)
    relpath = _complete(database, thumbs_dir, completed)

    everything = client.simulate_get("/photos")
    only_completed = client.simulate_get("/photos", params={"status": "completed"})

    assert everything.status_code == 200
    assert {photo["uuid"] for photo in everything.json} == {pending, failed, completed}
    [done] = only_completed.json
    assert done["uuid"] == completed
    assert done["thumbnails"][0]["href"] == f"/thumbs/{relpath}"
    assert client.simulate_get("/photos", params={"status": "lost"}).status_code == 400


def test_the_next_link_of_photos_keeps_the_status_filter(
    client: falcon.testing.TestClient, database: Database
) -> None:
    for _ in range(3):
        insert_photo(database, status="failed")
    insert_photo(database)
    first = client.simulate_get("/photos", params={"status": "failed", "limit": 2})
    link = re.search(r"<([^>]+)>", first.headers["link"]).group(1)
    path, _, query = link.partition("?")
    second = client.simulate_get(path, query_string=query)
    assert "status=failed" in query
    assert len(second.json) == 1
    assert second.json[0]["status"] == "failed"
    assert "link" not in second.headers


def test_stats_counts_every_status(client: falcon.testing.TestClient, database: Database) -> None:
    insert_photo(database)
    insert_photo(database)
    insert_photo(database, status="failed")
    result = client.simulate_get("/stats")
    assert result.status_code == 200
    assert result.json["counts"] == {"pending": 2, "processing": 0, "completed": 0, "failed": 1}
    assert result.json["total"] == 3
    assert datetime.fromisoformat(result.json["now"]).tzinfo is not None
    assert "since" not in result.json


def test_stats_since_follows_the_photos_queued_since_then(
    client: falcon.testing.TestClient, database: Database
) -> None:
    before = insert_photo(database)
    client.simulate_post("/photos/process", json=[before])
    since = client.simulate_get("/stats").json["now"]
    done, failing, again, waiting = (insert_photo(database) for _ in range(4))
    database.execute_sql("UPDATE photos SET status = 'failed' WHERE uuid IN (%s, %s)", (failing, again))
    assert client.simulate_post("/photos/process", json=[done, failing, again, waiting]).status_code == 202
    # A worker completes one, tries one failed photo again and fails it; the others still wait.
    database.execute_sql(
        "UPDATE photos SET status = 'completed', claimed_at = now() WHERE uuid = %s", (done,)
    )
    database.execute_sql(
        "UPDATE photos SET status = 'failed', claimed_at = clock_timestamp() WHERE uuid = %s", (failing,)
    )

    result = client.simulate_get("/stats", params={"since": since})

    assert result.json["since"] == {"queued": 4, "completed": 1, "failed": 1}
    assert client.simulate_get("/stats", params={"since": "yesterday"}).status_code == 400
    assert client.simulate_get("/stats", params={"since": "2026-01-01T00:00:00"}).status_code == 400


def test_a_thumbnail_is_served_with_caching_headers_and_revalidates_with_its_etag(
    client: falcon.testing.TestClient, database: Database, thumbs_dir: Path
) -> None:
    photo_id = insert_photo(database)
    relpath = _complete(database, thumbs_dir, photo_id, b"\xff\xd8 thumbnail bytes")

    result = client.simulate_get(f"/thumbs/{relpath}")
    assert result.status_code == 200
    assert result.content == b"\xff\xd8 thumbnail bytes"
    assert result.headers["content-type"] == "image/jpeg"
    assert "max-age" in result.headers["cache-control"]

    again = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": result.headers["etag"]})
    assert again.status_code == 304


def test_a_thumbnail_is_cached_publicly_only_a_minute_then_revalidated(
    client: falcon.testing.TestClient, database: Database, thumbs_dir: Path
) -> None:
    relpath = _complete(database, thumbs_dir, insert_photo(database))

    result = client.simulate_get(f"/thumbs/{relpath}")

    directives = _directives(result.headers["cache-control"])
    assert directives == {"public", "max-age=60", "must-revalidate"}
    assert "immutable" not in directives
    again = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": result.headers["etag"]})
    assert again.status_code == 304
    assert _directives(again.headers["cache-control"]) == directives


def test_a_thumbnail_rewritten_by_processing_again_gets_a_new_etag_and_is_served_anew(
    client: falcon.testing.TestClient, database: Database, thumbs_dir: Path
) -> None:
    photo_id = insert_photo(database)
    relpath = _complete(database, thumbs_dir, photo_id, b"\xff\xd8 thumbnail A")
    first = client.simulate_get(f"/thumbs/{relpath}")

    # What processing the photo again does: the same name, written anew (temporary file, rename),
    # here at once and with as many bytes, so that neither the size nor the time tells them apart.
    assert (
        FolderStore(thumbs_dir).write(thumbnail_relpath(uuid.UUID(photo_id), ".jpg"), b"\xff\xd8 thumbnail B")
        == relpath
    )
    again = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 200
    assert again.content == b"\xff\xd8 thumbnail B"
    assert again.headers["etag"] != first.headers["etag"]


def test_with_a_token_set_a_thumbnail_is_private_to_the_browser(
    config: Config, database: Database, thumbs_dir: Path, actors_package: Any
) -> None:
    relpath = _complete(database, thumbs_dir, insert_photo(database))
    locked = falcon.testing.TestClient(
        create_app(
            replace(config, api_token=TOKEN), db=database, publish=one_at_a_time(print), health_checks={}
        )
    )

    result = locked.simulate_get(f"/thumbs/{relpath}", headers={"Authorization": f"Bearer {TOKEN}"})

    assert result.status_code == 200
    directives = _directives(result.headers["cache-control"])
    assert directives == {"private", "max-age=60", "must-revalidate"}
    assert "public" not in directives


def _directives(cache_control: str) -> set[str]:
    return {directive.strip() for directive in cache_control.split(",")}


def test_paths_outside_the_thumbnails_folder_are_not_served(client: falcon.testing.TestClient) -> None:
    for path in (
        "/thumbs/../config.py",
        "/thumbs/%2e%2e/config.py",
        "/thumbs/ab/missing.jpg",
        "/thumbs/x.txt",
    ):
        assert client.simulate_get(path).status_code == 404, path
