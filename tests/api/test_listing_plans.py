"""The listings' queries on a table as an import leaves it: 100,000 rows sharing one created_at.

Every listing pages by (created_at, uuid). Rows inserted by one statement share created_at, so a
plan that takes only created_at's order from an index must sort all of them for each page (an
Incremental Sort: 130 ms a page at 100,000 rows, where reading the index in order takes 0.2).
These tests read the plans PostgreSQL chooses for the statements the code sends, and page
through each listing with its cursors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import falcon.testing
import pytest
from peewee import Database

from harness.queue import QueueProbe
from publishing import ConfirmedPublisher
from service import process_pending

IMPORTED = 100_000  # pending, one INSERT: one created_at
COMPLETED = 20_000  # completed, one INSERT: another created_at
FAILED = 5_000  # failed, one INSERT
BY_STATUS = "photos_status_created_at_uuid_idx"
BY_TIME = "photos_created_at_uuid_idx"
# Each listing, and the index its pages must be read from in order.
LISTINGS = [
    ("/photos/pending", "", BY_STATUS, IMPORTED),
    ("/photos", "status=pending", BY_STATUS, IMPORTED),
    ("/photos", "status=completed", BY_STATUS, COMPLETED),
    ("/photos", "", BY_TIME, IMPORTED + COMPLETED + FAILED),
]


@pytest.fixture
def imported(database: Database) -> None:
    """The photos of three imports, each batch one statement and so one created_at."""
    for count, status in ((IMPORTED, "pending"), (COMPLETED, "completed"), (FAILED, "failed")):
        database.execute_sql(
            "INSERT INTO photos (url, status) SELECT 'http://127.0.0.1:9/' || %s || n, %s::photo_status"
            " FROM generate_series(1, %s) n",
            (status, status, count),
        )
    shared = database.execute_sql("SELECT count(DISTINCT created_at) FROM photos").fetchone()[0]
    assert shared == 3
    database.execute_sql("ANALYZE photos")  # as autovacuum would after an import


@contextmanager
def statements(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Record every statement the code sends through `database` that orders rows."""
    sent: list[tuple[str, Any]] = []
    real = database.execute_sql

    def execute_sql(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if "ORDER BY" in sql:
            sent.append((sql, params))
        return real(sql, params, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(database, "execute_sql", execute_sql)
        yield sent


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def explain(database: Database, sql: str, params: Any) -> dict[str, Any]:
    """The plan PostgreSQL chooses for the statement (not run: no ANALYZE)."""
    (document,) = database.execute_sql("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    return dict(document[0]["Plan"])


def assert_reads_index_in_order(plan: dict[str, Any], index: str) -> None:
    """The plan reads `index` forwards, sorts nothing and scans no table whole."""
    nodes = list(plan_nodes(plan))
    kinds = [node["Node Type"] for node in nodes]
    assert not [kind for kind in kinds if "Sort" in kind or kind in ("Gather Merge", "Seq Scan")], kinds
    scans = [node for node in nodes if node.get("Index Name") == index]
    assert scans, f"{index} not read: {kinds}"
    assert all(scan["Scan Direction"] == "Forward" for scan in scans)


def next_cursor(result: falcon.testing.Result) -> str | None:
    """The cursor of the response's next-page link, if it has one."""
    link = result.headers.get("Link")
    if link is None:
        return None
    return parse_qs(urlsplit(link.split(";")[0].strip("<> ")).query)["cursor"][0]


def query_string(filters: str, **params: Any) -> str:
    return "&".join([filters, *(f"{name}={value}" for name, value in params.items())]).strip("&")


@pytest.mark.parametrize(("path", "filters", "index", "count"), LISTINGS)
def test_each_listing_reads_its_index_in_order_without_a_sort_and_its_pages_list_every_row_once(
    client: falcon.testing.TestClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    imported: None,
    path: str,
    filters: str,
    index: str,
    count: int,
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    with statements(database, monkeypatch) as sent:
        while True:
            params = {"limit": 1000} if cursor is None else {"limit": 1000, "cursor": cursor}
            result = client.simulate_get(path, query_string=query_string(filters, **params))
            assert result.status_code == 200
            seen.extend(photo["uuid"] for photo in result.json)
            if (cursor := next_cursor(result)) is None:
                break

    status = parse_qs(filters).get("status", [None])[0] or ("pending" if path.endswith("pending") else None)
    expected = database.execute_sql(
        "SELECT uuid::text FROM photos WHERE %s::photo_status IS NULL OR status = %s::photo_status",
        (status, status),
    ).fetchall()
    assert len(seen) == count
    assert sorted(seen) == sorted(uuid for (uuid,) in expected)

    pages = [(sql, params) for sql, params in sent if "photo_thumbnails" not in sql]
    assert len(pages) == -(-count // 1000)  # one statement a page
    # The first page, one from the middle of the shared created_at, and the last.
    for sql, params in (pages[0], pages[len(pages) // 2], pages[-1]):
        assert_reads_index_in_order(explain(database, sql, params), index)


class RecordingPublisher:
    """The real confirmed publisher, noting the photo ids of every batch it is asked to send."""

    def __init__(self, publisher: ConfirmedPublisher) -> None:
        self._publisher = publisher
        self.sent: list[str] = []

    def start(self, photo_ids: list[str]) -> Any:
        self.sent.extend(photo_ids)
        return self._publisher.start(photo_ids)

    def finish(self, outgoing: Any) -> list[str]:
        return self._publisher.finish(outgoing)


def test_process_pending_pages_read_the_index_in_order_and_queue_every_photo_once(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    publisher: ConfirmedPublisher,
    config: Any,
    imported: None,
) -> None:
    recording = RecordingPublisher(publisher)
    probe = QueueProbe(config.amqp_url)
    probe.purge()  # what earlier tests of the run left queued
    try:
        with statements(database, monkeypatch) as sent:
            queued = process_pending.queue_by_status(recording, status="pending", skip_queued_within_s=3600)
        assert queued == IMPORTED
        assert probe.depth() == IMPORTED
    finally:
        probe.purge()
        probe.close()
    assert len(recording.sent) == IMPORTED
    assert len(set(recording.sent)) == IMPORTED
    pending = database.execute_sql("SELECT uuid::text FROM photos WHERE status = 'pending'").fetchall()
    assert set(recording.sent) == {uuid for (uuid,) in pending}

    pages = [(sql, params) for sql, params in sent if sql is process_pending._PAGE]
    assert len(pages) == IMPORTED // process_pending.BATCH_SIZE + 2  # the last page is the empty one
    # The first page, one from the middle of the shared created_at, and the empty last one.
    for sql, params in (pages[0], pages[len(pages) // 2], pages[-1]):
        plan = explain(database, sql, params)
        # The page is the CTE; the statement's UPDATE joins it and sorts nothing either.
        assert_reads_index_in_order(plan, BY_STATUS)
