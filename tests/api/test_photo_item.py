"""GET /photos/{uuid}: the photo, its status, its failure reason and its thumbnails."""

from __future__ import annotations

import uuid

import falcon.testing
from peewee import Database

from tests.support.data import insert_photo


def test_a_completed_photo_shows_its_thumbnail(client: falcon.testing.TestClient, database: Database) -> None:
    photo_id = insert_photo(database, status="completed")
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " VALUES (%s, 'thumb', 'jpeg', 320, 213, %s)",
        (photo_id, f"{photo_id[:2]}/{photo_id}.jpg"),
    )
    result = client.simulate_get(f"/photos/{photo_id}")
    assert result.status_code == 200
    assert result.json["status"] == "completed"
    assert result.json["failure_reason"] is None
    [thumbnail] = result.json["thumbnails"]
    assert (thumbnail["width"], thumbnail["height"]) == (320, 213)
    assert thumbnail["url"] == f"{photo_id[:2]}/{photo_id}.jpg"


def test_a_failed_photo_shows_why(client: falcon.testing.TestClient, database: Database) -> None:
    photo_id = insert_photo(database, status="failed")
    database.execute_sql(
        "UPDATE photos SET failure_reason = 'source_http_error: source answered HTTP 404' WHERE uuid = %s",
        (photo_id,),
    )
    result = client.simulate_get(f"/photos/{photo_id.upper()}")
    assert result.status_code == 200
    assert result.json["failure_reason"] == "source_http_error: source answered HTTP 404"
    assert result.json["thumbnails"] == []


def test_an_unknown_uuid_is_404_and_a_malformed_one_400(client: falcon.testing.TestClient) -> None:
    missing = client.simulate_get(f"/photos/{uuid.uuid4()}")
    malformed = client.simulate_get("/photos/not-a-uuid")
    assert missing.status_code == 404
    assert malformed.status_code == 400
    assert {"title", "description"} <= set(missing.json) & set(malformed.json)
