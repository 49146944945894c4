"""POST /photos/process: one Dramatiq message per eligible photo; bad input queues nothing."""

from __future__ import annotations

import json
import uuid

import falcon.testing
import pika.exceptions
import pytest
from peewee import Database

from api.app import create_app
from harness.queue import QueueProbe
from models import Photo, PhotoThumbnail
from publishing import one_at_a_time
from tests.support.data import insert_photo
from tests.support.openapi import assert_documented


def _post(client: falcon.testing.TestClient, body: object, **kwargs: object) -> falcon.testing.Result:
    return client.simulate_post("/photos/process", json=body, **kwargs)


def test_each_pending_or_failed_photo_gets_one_message_in_dramatiq_format(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    pending = insert_photo(database)
    failed = insert_photo(database, status="failed")

    result = _post(client, [pending, failed])

    assert result.status_code == 202
    assert result.json == {"queued": [pending, failed], "skipped": []}
    assert sorted(queue.photo_ids()) == sorted([pending, failed])


def test_photos_that_are_missing_completed_or_processing_are_skipped_with_a_reason(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    completed = insert_photo(database, status="completed")
    processing = insert_photo(database, status="processing")
    missing = str(uuid.uuid4())
    pending = insert_photo(database)

    result = _post(client, [completed, processing, missing, pending])

    assert result.status_code == 202
    assert result.json["queued"] == [pending]
    assert result.json["skipped"] == [
        {"uuid": completed, "reason": "completed"},
        {"uuid": processing, "reason": "processing"},
        {"uuid": missing, "reason": "not_found"},
    ]
    assert queue.photo_ids() == [pending]


def test_upper_case_uuids_are_accepted_and_answered_in_lower_case(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    photo_id = insert_photo(database)
    result = _post(client, [photo_id.upper()])
    assert result.status_code == 202
    assert result.json["queued"] == [photo_id]
    assert queue.photo_ids() == [photo_id]


def test_a_uuid_repeated_in_the_body_is_queued_once(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    photo_id = insert_photo(database)
    result = _post(client, [photo_id, photo_id.upper(), photo_id])
    assert result.json["queued"] == [photo_id]
    assert queue.photo_ids() == [photo_id]


def test_the_content_type_may_carry_parameters_or_be_missing(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    first, second = insert_photo(database), insert_photo(database)
    with_charset = client.simulate_post(
        "/photos/process",
        body=json.dumps([first]),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    missing = client.simulate_post("/photos/process", body=json.dumps([second]))
    assert (with_charset.status_code, missing.status_code) == (202, 202)
    assert sorted(queue.photo_ids()) == sorted([first, second])


BAD_BODIES = {
    "malformed JSON": b'["a", ',
    "not JSON at all": b"hello",
    "an object": b'{"uuids": []}',
    "a string": b'"0b7e0cc2-8a2a-4a0c-9f5e-9d1f3c2b1a00"',
    "a number": b"42",
    "null": b"null",
    "an empty array": b"[]",
    "an empty body": b"",
    "a number item": b"[1]",
    "a null item": b"[null]",
    "a nested array item": b'[["0b7e0cc2-8a2a-4a0c-9f5e-9d1f3c2b1a00"]]',
    "a UUID without hyphens": b'["0b7e0cc28a2a4a0c9f5e9d1f3c2b1a00"]',
    "a UUID in braces": b'["{0b7e0cc2-8a2a-4a0c-9f5e-9d1f3c2b1a00}"]',
    "a URN": b'["urn:uuid:0b7e0cc2-8a2a-4a0c-9f5e-9d1f3c2b1a00"]',
    "a UUID with spaces": b'[" 0b7e0cc2-8a2a-4a0c-9f5e-9d1f3c2b1a00"]',
    "deeply nested arrays": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_a_400_json_error_and_queues_nothing_not_even_the_valid_uuids(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe, body: bytes
) -> None:
    valid = insert_photo(database)
    if body.startswith(b"[") and body not in (b"[]",) and not body.startswith(b"[["):
        body = b'["' + valid.encode() + b'", ' + body[1:]  # a valid UUID beside the bad item
    result = client.simulate_post("/photos/process", body=body, headers={"Content-Type": "application/json"})
    assert result.status_code == 400
    assert {"title", "description"} <= set(result.json)
    assert queue.photo_ids() == []


def test_more_than_1000_uuids_is_a_413(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    result = _post(client, [str(uuid.uuid4()) for _ in range(1001)])
    assert result.status_code == 413
    assert {"title", "description"} <= set(result.json)
    assert queue.photo_ids() == []


def test_a_body_over_1_mib_is_a_413_even_when_its_items_are_bad(
    client: falcon.testing.TestClient, queue: QueueProbe
) -> None:
    body = json.dumps(["x" * 1024] * 1100).encode()
    assert len(body) > 1024 * 1024
    result = client.simulate_post("/photos/process", body=body, headers={"Content-Type": "application/json"})
    assert result.status_code == 413
    assert queue.photo_ids() == []


def test_a_content_type_other_than_json_is_a_415_before_size_and_shape(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    valid = insert_photo(database)
    for content_type, body in (
        ("text/plain", json.dumps([valid]).encode()),
        ("application/x-www-form-urlencoded", b"uuid=" + valid.encode()),
        ("text/plain", b"x" * (1024 * 1024 + 10)),  # also too large: 415 comes first
        ("application/jsonp", b"not json"),
    ):
        result = client.simulate_post("/photos/process", body=body, headers={"Content-Type": content_type})
        assert result.status_code == 415, content_type
        assert {"title", "description"} <= set(result.json)
    assert queue.photo_ids() == []


def test_a_database_that_cannot_be_reached_is_a_503_json_error(config, actors_package) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from playhouse.pool import PooledPostgresqlDatabase

    from models import connect_options

    unreachable = replace(config, pg_connection_uri="postgresql://postgres@127.0.0.1:9/none")
    offline = PooledPostgresqlDatabase(None)
    offline.init(**connect_options(unreachable))
    app = create_app(
        unreachable, db=offline, publish=one_at_a_time(actors_package.process_photo.send), health_checks={}
    )
    client = falcon.testing.TestClient(app)

    with offline.bind_ctx([Photo, PhotoThumbnail]):
        result = client.simulate_post("/photos/process", json=[str(uuid.uuid4())])
        listing = client.simulate_get("/photos/pending")

    assert (result.status_code, listing.status_code) == (503, 503)
    assert result.json["title"] == "Database unavailable"
    assert "Traceback" not in result.text


def test_a_broker_failing_part_way_answers_503_listing_what_was_confirmed(
    config, database: Database, actors_package, queue: QueueProbe
) -> None:  # type: ignore[no-untyped-def]
    ids = [insert_photo(database) for _ in range(4)]
    sent = []

    def send_then_fail(photo_id: str) -> None:
        # The first two messages really go out; then the broker "drops the connection".
        if len(sent) == 2:
            raise pika.exceptions.StreamLostError("connection lost")
        actors_package.process_photo.send(photo_id)
        sent.append(photo_id)

    client = falcon.testing.TestClient(
        create_app(config, db=database, publish=one_at_a_time(send_then_fail), health_checks={})
    )
    result = _post(client, ids)

    assert result.status_code == 503
    assert result.json["queued"] == ids[:2]
    assert result.json["not_queued"] == ids[2:]
    assert_documented("/photos/process", "post", 503, result.json)
    assert sorted(queue.photo_ids()) == sorted(ids[:2])
