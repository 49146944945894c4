"""POST /photos: photos created from URLs, all or none; Idempotency-Key; ?process=true queues them."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import falcon.testing
import pika.exceptions
import pytest
from peewee import Database

from api.app import create_app
from api.validation import MAX_NEW_PHOTOS_BODY_BYTES
from config import Config
from harness.queue import QueueProbe
from publishing import one_at_a_time
from tests.support.data import kept_and_counted
from tests.support.openapi import assert_documented


def _post(client: falcon.testing.TestClient, body: object, **kwargs: Any) -> falcon.testing.Result:
    return client.simulate_post("/photos", json=body, **kwargs)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


def _count(database: Database) -> int:
    return int(database.execute_sql("SELECT count(*) FROM photos").fetchone()[0])


def _urls(n: int, tag: str = "") -> list[dict[str, str]]:
    return [{"url": f"http://images.example/{tag}{i}.jpg"} for i in range(n)]


def test_the_photos_are_created_pending_and_answered_in_the_order_given(
    client: falcon.testing.TestClient, database: Database
) -> None:
    body = [
        {"url": "https://b.example/2.jpg"},
        {"url": "http://a.example/1.png"},
        {"url": "https://b.example/2.jpg"},
    ]
    result = _post(client, body)
    assert result.status_code == 201
    photos = result.json["photos"]
    assert [p["url"] for p in photos] == [item["url"] for item in body]
    assert {p["status"] for p in photos} == {"pending"}
    assert set(photos[0]) == {"uuid", "url", "status", "created_at"}
    assert "queued" not in result.json
    assert len({p["uuid"] for p in photos}) == 3
    for photo in photos:
        listed = client.simulate_get(f"/photos/{photo['uuid']}").json
        assert (listed["url"], listed["status"], listed["created_at"]) == (
            photo["url"],
            "pending",
            photo["created_at"],
        )
    kept, counted = kept_and_counted(database)
    assert kept == counted == {"pending": 3}


def test_1000_photos_sent_twice_with_one_key_are_created_once_and_answered_the_same(
    client: falcon.testing.TestClient, database: Database
) -> None:
    body, key = _urls(1000), _key()
    first = _post(client, body, headers=key)
    again = _post(client, body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert len(first.json["photos"]) == 1000
    assert again.content == first.content, "the same bytes, each photo's fields in their order"
    assert _count(database) == 1000
    # Without the key, the same body is a new request.
    assert _post(client, body).status_code == 201
    assert _count(database) == 2000


def test_one_key_with_another_body_or_another_process_flag_is_a_422_creating_nothing(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    key = _key()
    assert _post(client, _urls(2), headers=key).status_code == 201
    other_body = _post(client, _urls(3), headers=key)
    other_flag = client.simulate_post("/photos?process=true", json=_urls(2), headers=key)
    assert (other_body.status_code, other_flag.status_code) == (422, 422)
    assert {"title", "description"} <= set(other_body.json)
    assert _count(database) == 2
    assert queue.photo_ids() == []


def test_concurrent_requests_with_one_key_create_the_photos_once(
    client: falcon.testing.TestClient, database: Database
) -> None:
    body, key = _urls(500), _key()
    start = threading.Barrier(6)
    results: list[falcon.testing.Result] = []

    def send() -> None:
        start.wait()
        results.append(_post(client, body, headers=key))
        database.close()  # each thread's own pooled connection

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [201] * 6
    assert all(r.content == results[0].content for r in results)
    assert _count(database) == 500


def test_a_key_older_than_24_hours_is_pruned_and_may_be_used_again(
    client: falcon.testing.TestClient, database: Database
) -> None:
    old, fresh = _key(), _key()
    first = _post(client, _urls(1), headers=old)
    database.execute_sql(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = %s",
        (old["Idempotency-Key"],),
    )
    _post(client, _urls(1, "other"), headers=fresh)  # adding a key prunes the expired ones
    assert database.execute_sql(
        "SELECT count(*) FROM idempotency_keys WHERE key = %s", (old["Idempotency-Key"],)
    ).fetchone() == (0,)
    again = _post(client, _urls(1), headers=old)
    assert again.status_code == 201
    assert again.json["photos"][0]["uuid"] != first.json["photos"][0]["uuid"]


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there", "bell\x07"])
def test_a_bad_idempotency_key_is_a_400_creating_nothing(
    client: falcon.testing.TestClient, database: Database, key: str
) -> None:
    result = client.simulate_post(
        "/photos", body=json.dumps(_urls(1)).encode(), headers={"Idempotency-Key": key}
    )
    assert result.status_code == 400
    assert {"title", "description"} <= set(result.json)
    assert _count(database) == 0


LONG_URL = "http://images.example/" + "a" * (2049 - len("http://images.example/"))
BAD_BODIES: dict[str, tuple[bytes, int, str]] = {
    # name: (body, status, what the description must say)
    "bad JSON": (b'[{"url": "http://a.example/x.jpg"}, ', 400, "not valid JSON"),
    "not a list": (b'{"url": "http://a.example/x.jpg"}', 400, "JSON array"),
    "an empty list": (b"[]", 400, "empty"),
    "an empty body": (b"", 400, "empty"),
    "1001 items": (json.dumps(_urls(1001)).encode(), 413, "1000"),
    "an item not an object": (
        b'[{"url": "http://a.example/x.jpg"}, "http://a.example/y.jpg"]',
        400,
        "Item 1",
    ),
    "a missing url": (b'[{"url": "http://a.example/x.jpg"}, {"uri": "http://a/y"}]', 400, "Item 1"),
    "another field": (b'[{"url": "http://a.example/x.jpg", "name": "x"}]', 400, "Item 0"),
    "a url not a string": (b'[{"url": "http://a.example/x.jpg"}, {"url": 7}]', 400, "Item 1"),
    "a relative url": (b'[{"url": "http://a.example/x.jpg"}, {"url": "/x.jpg"}]', 400, "Item 1"),
    "an ftp url": (b'[{"url": "ftp://a.example/x.jpg"}]', 400, "http or https"),
    "no host": (b'[{"url": "http:///x.jpg"}]', 400, "no host"),
    "a space": (b'[{"url": "http://a.example/x y.jpg"}]', 400, "whitespace"),
    "a bad port": (b'[{"url": "http://a.example:99999/x.jpg"}]', 400, "Item 0"),
    "2049 characters": (json.dumps([{"url": LONG_URL}]).encode(), 400, "2048"),
    # JSON may escape a lone UTF-16 surrogate, which no UTF-8 text (nor the database) can hold.
    "a lone surrogate": (
        b'[{"url": "http://a.example/x.jpg"}, {"url": "http://a.example/\\ud800.jpg"}]',
        400,
        "Item 1: the url is not valid Unicode text",
    ),
}


@pytest.mark.parametrize("case", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_every_bad_body_is_a_json_4xx_naming_the_problem_and_creates_nothing(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe, case: tuple[bytes, int, str]
) -> None:
    body, status, said = case
    result = client.simulate_post(
        "/photos?process=true", body=body, headers={"Content-Type": "application/json", **_key()}
    )
    assert result.status_code == status
    assert set(result.json) == {"title", "description"}
    assert said in result.json["description"]
    assert _count(database) == 0
    assert queue.photo_ids() == []


def test_a_2048_character_url_is_accepted(client: falcon.testing.TestClient) -> None:
    assert _post(client, [{"url": LONG_URL[:-1]}]).status_code == 201


def test_1000_urls_of_2048_characters_fit_in_one_body_and_a_body_past_3_mib_is_a_413(
    client: falcon.testing.TestClient, database: Database
) -> None:
    urls = [f"{LONG_URL[:-13]}{index:012d}" for index in range(1000)]
    assert {len(url) for url in urls} == {2048}
    body = json.dumps([{"url": url} for url in urls], indent=2).encode()
    assert 2_000_000 < len(body) <= MAX_NEW_PHOTOS_BODY_BYTES

    result = client.simulate_post(
        "/photos", body=body, headers={"Content-Type": "application/json", **_key()}
    )

    assert result.status_code == 201, result.text
    assert [photo["url"] for photo in result.json["photos"]] == urls
    padded = body[:-1] + b" " * (MAX_NEW_PHOTOS_BODY_BYTES + 1 - len(body)) + b"]"
    assert client.simulate_post("/photos", body=padded, headers=_key()).status_code == 413
    assert _count(database) == 1000


def test_the_content_type_is_checked_before_the_size_and_the_size_before_the_shape(
    client: falcon.testing.TestClient, database: Database
) -> None:
    huge_and_bad = b"x" * (MAX_NEW_PHOTOS_BODY_BYTES + 10)
    as_text = client.simulate_post("/photos", body=huge_and_bad, headers={"Content-Type": "text/plain"})
    as_json = client.simulate_post("/photos", body=huge_and_bad, headers={"Content-Type": "application/json"})
    good_as_form = client.simulate_post(
        "/photos",
        body=json.dumps(_urls(1)).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (as_text.status_code, as_json.status_code, good_as_form.status_code) == (415, 413, 415)
    assert all({"title", "description"} <= set(r.json) for r in (as_text, as_json, good_as_form))
    assert _count(database) == 0


def test_process_true_queues_every_photo_created(
    client: falcon.testing.TestClient, database: Database, queue: QueueProbe
) -> None:
    key = _key()
    result = client.simulate_post("/photos?process=true", json=_urls(3), headers=key)
    assert result.status_code == 201
    ids = [p["uuid"] for p in result.json["photos"]]
    assert result.json["queued"] == ids
    assert sorted(queue.photo_ids()) == sorted(ids)
    # A retry answers the same, and sends nothing again: every message was confirmed.
    again = client.simulate_post("/photos?process=true", json=_urls(3), headers=key)
    assert again.content == result.content
    assert queue.photo_ids() == []  # (the probe takes the messages it reads)
    assert client.simulate_post("/photos?process=maybe", json=_urls(1)).status_code == 400


def _failing_after(sent_ok: int, send: Callable[[str], object]) -> Callable[[str], None]:
    sent: list[str] = []

    def send_then_fail(photo_id: str) -> None:
        if len(sent) >= sent_ok:
            raise pika.exceptions.StreamLostError("connection lost")
        send(photo_id)
        sent.append(photo_id)

    return send_then_fail


def test_a_broker_failing_part_way_answers_503_and_a_retry_with_the_key_queues_the_rest(
    config: Config, database: Database, actors_package: Any, queue: QueueProbe
) -> None:
    def client_sending(send: Callable[[str], object]) -> falcon.testing.TestClient:
        app = create_app(config, db=database, publish=one_at_a_time(send), health_checks={})
        return falcon.testing.TestClient(app)

    body, key = _urls(4), _key()
    failing = client_sending(_failing_after(2, actors_package.process_photo.send))
    result = failing.simulate_post("/photos?process=true", json=body, headers=key)

    assert result.status_code == 503
    ids = [p["uuid"] for p in result.json["photos"]]
    assert len(ids) == 4
    assert _count(database) == 4
    assert result.json["queued"] == ids[:2]
    assert result.json["not_queued"] == ids[2:]
    assert_documented("/photos", "post", 503, result.json)
    assert sorted(queue.photo_ids()) == sorted(ids[:2])

    working = client_sending(actors_package.process_photo.send)
    again = working.simulate_post("/photos?process=true", json=body, headers=key)
    assert again.status_code == 201
    assert again.json == {"photos": result.json["photos"], "queued": ids}
    assert sorted(queue.photo_ids()) == sorted(ids[2:])  # the first two were not sent twice
    assert _count(database) == 4
