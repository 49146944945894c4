"""Bad input through real HTTP (gunicorn): what TestClient cannot send, such as chunked bodies.

No worker runs in this module, so the queue shows exactly what the API published.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from peewee import Database

from harness.queue import QueueProbe
from tests.support.data import insert_photo


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_1_mib_is_a_413_and_queues_nothing(
    api: str, database: Database, queue: QueueProbe
) -> None:
    valid = insert_photo(database)
    body = json.dumps([valid] + ["0" * 36] * 40_000).encode()
    assert len(body) > 1024 * 1024
    response = requests.post(
        f"{api}/photos/process", data=_chunks(body), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
    assert {"title", "description"} <= set(response.json())
    assert queue.photo_ids() == []


def test_a_chunked_body_without_a_content_type_is_taken_as_json(
    api: str, database: Database, queue: QueueProbe
) -> None:
    photo_id = insert_photo(database)
    response = requests.post(
        f"{api}/photos/process", data=_chunks(json.dumps([photo_id]).encode()), timeout=30
    )
    assert response.status_code == 202, response.text
    assert queue.photo_ids() == [photo_id]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "text/csv"}, b"a,b", 415),
        ({"Content-Type": "application/json"}, b"{", 400),
        ({"Content-Type": "application/json"}, b"[]", 400),
        ({"Content-Type": "application/json"}, b'["nope"]', 400),
    ],
    ids=["wrong content type", "malformed JSON", "empty array", "not a UUID"],
)
def test_bad_input_over_http_gets_a_json_error_and_queues_nothing(
    api: str, database: Database, queue: QueueProbe, headers: dict[str, str], body: bytes, status: int
) -> None:
    insert_photo(database)
    response = requests.post(f"{api}/photos/process", data=body, headers=headers, timeout=30)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert {"title", "description"} <= set(response.json())
    assert queue.photo_ids() == []


def test_an_unknown_route_is_a_json_404(api: str) -> None:
    response = requests.get(f"{api}/nothing-here", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
