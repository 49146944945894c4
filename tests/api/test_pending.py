"""GET /photos/pending: pending photos, oldest first, paginated with a cursor and a Link header."""

from __future__ import annotations

import re
from datetime import datetime

import falcon.testing
from peewee import Database

from tests.support.data import insert_photo


def _insert_at(database: Database, minutes_ago: int, status: str = "pending") -> str:
    return str(
        database.execute_sql(
            "INSERT INTO photos (url, status, created_at) VALUES (%s, %s, now() - make_interval(mins => %s))"
            " RETURNING uuid",
            (f"http://127.0.0.1:9/{minutes_ago}.jpg", status, minutes_ago),
        ).fetchone()[0]
    )


def _next_link(result: falcon.testing.Result) -> str | None:
    match = re.search(r'<([^>]+)>;\s*rel="?next"?', result.headers.get("link", ""))
    return match.group(1) if match else None


def test_lists_only_pending_photos_oldest_first_with_the_seed_fields(
    client: falcon.testing.TestClient, database: Database
) -> None:
    newer = _insert_at(database, 1)
    older = _insert_at(database, 10)
    _insert_at(database, 5, status="completed")
    _insert_at(database, 6, status="failed")

    result = client.simulate_get("/photos/pending")

    assert result.status_code == 200
    assert [photo["uuid"] for photo in result.json] == [older, newer]
    assert set(result.json[0]) == {"uuid", "url", "status", "created_at"}
    assert result.json[0]["status"] == "pending"
    assert datetime.fromisoformat(result.json[0]["created_at"]).tzinfo is not None
    assert _next_link(result) is None


def test_an_empty_table_gives_an_empty_array(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/photos/pending")
    assert result.status_code == 200
    assert result.json == []


def test_pages_follow_the_next_link_until_every_photo_was_seen_once(
    client: falcon.testing.TestClient, database: Database
) -> None:
    expected = [_insert_at(database, minutes) for minutes in range(25, 0, -1)]
    # Photos created in the same instant are ordered by UUID, and pages must not lose them.
    database.execute_sql("UPDATE photos SET created_at = date_trunc('hour', now())")
    expected = sorted(expected)

    seen, url, pages = [], "/photos/pending?limit=10", 0
    while url:
        path, _, query = url.partition("?")
        result = client.simulate_get(path, query_string=query)
        assert result.status_code == 200
        seen += [photo["uuid"] for photo in result.json]
        url, pages = _next_link(result), pages + 1

    assert seen == expected
    assert pages == 3


def test_a_photo_that_stops_being_pending_does_not_shift_the_next_page(
    client: falcon.testing.TestClient, database: Database
) -> None:
    ids = [_insert_at(database, minutes) for minutes in range(6, 0, -1)]
    first = client.simulate_get("/photos/pending", params={"limit": 3})
    database.execute_sql("UPDATE photos SET status = 'completed' WHERE uuid = %s", (ids[0],))
    path, _, query = _next_link(first).partition("?")
    second = client.simulate_get(path, query_string=query)
    assert [photo["uuid"] for photo in second.json] == ids[3:]


def test_limit_defaults_to_100(client: falcon.testing.TestClient, database: Database) -> None:
    database.execute_sql(
        "INSERT INTO photos (url) SELECT 'http://127.0.0.1:9/' || n || '.jpg' FROM generate_series(1, 101) n"
    )
    result = client.simulate_get("/photos/pending")
    assert len(result.json) == 100
    assert _next_link(result) is not None


def test_bad_limits_and_cursors_are_refused_with_a_json_error(client: falcon.testing.TestClient) -> None:
    for query in ("limit=0", "limit=1001", "limit=ten", "limit=-1", "cursor=not-a-cursor", "cursor=e30"):
        result = client.simulate_get("/photos/pending", query_string=query)
        assert result.status_code == 400, query
        assert {"title", "description"} <= set(result.json), query


def test_a_photo_inserted_by_the_original_schema_way_is_listed(
    client: falcon.testing.TestClient, database: Database
) -> None:
    photo_id = insert_photo(database)
    assert [photo["uuid"] for photo in client.simulate_get("/photos/pending").json] == [photo_id]
