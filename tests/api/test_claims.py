"""The claim on the real database: lock and claim in one round trip, completion in one statement,
and the stranded-photo scan that reads PostgreSQL's lock table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from peewee import Database

from pipeline import claims, process_requests, reconcile
from pipeline.locks import lock_key
from tests.support.data import complete_with, insert_photo, photo_row

# RETRY_MAX=3 and MAX_CRASHES=3, the defaults.
BUDGET = {"max_attempts": 4, "max_crashes": 3}


@pytest.fixture
def other_session(config) -> Iterator[psycopg2.extensions.connection]:  # type: ignore[no-untyped-def]
    """A second database session, standing for another worker."""
    conn = psycopg2.connect(config.pg_connection_uri)
    conn.autocommit = True
    yield conn
    conn.close()


def _hold(session: psycopg2.extensions.connection, photo_id: str) -> None:
    with session.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (lock_key(uuid.UUID(photo_id)),))


def _lock_free(session: psycopg2.extensions.connection, photo_id: str) -> bool:
    key = lock_key(uuid.UUID(photo_id))
    with session.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        free = bool(cur.fetchone()[0])
        if free:
            cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return free


def test_a_pending_photo_is_locked_and_claimed_and_the_lock_is_held_for_the_block(
    database: Database, other_session: psycopg2.extensions.connection
) -> None:
    photo_id = insert_photo(database, "http://127.0.0.1:9/a.jpg")
    with database.connection_context(), claims.claimed(database, uuid.UUID(photo_id), **BUDGET) as claim:
        assert claim == claims.Claim(locked=True, url="http://127.0.0.1:9/a.jpg", first=True)
        row = photo_row(database, photo_id)
        assert (row["status"], row["attempts"]) == ("processing", 1)
        assert row["claimed_at"] is not None
        assert not _lock_free(other_session, photo_id)
    assert _lock_free(other_session, photo_id)


def test_a_claim_after_an_earlier_attempt_is_not_the_first(database: Database) -> None:
    """Only a photo no attempt ever began can have nothing in the store: any later claim, of a
    retry, a redelivery after a crash or a new request after a failure, is not the first."""
    photo_id = uuid.UUID(insert_photo(database))
    with database.connection_context(), claims.claimed(database, photo_id, **BUDGET) as claim:
        claims.end_attempt(database, photo_id, "source_unavailable: 503", retried=True, counted=True)
    with database.connection_context(), claims.claimed(database, photo_id, **BUDGET) as retry:
        assert retry.url is not None
        assert not retry.first
    claims.mark_failed(database, photo_id, "source_unavailable: 503")
    process_requests.start_request(database, [str(photo_id)])
    with database.connection_context(), claims.claimed(database, photo_id, **BUDGET) as again:
        assert again.url is not None
        assert not again.first
    assert claim.first


def test_a_photo_with_a_thumbnail_row_is_never_a_first_claim(database: Database) -> None:
    """A photo completed before claims were recorded (no claimed_at), set back to pending by
    hand: its thumbnail is in the store, so a removal of other formats must not be skipped."""
    photo_id = insert_photo(database)
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " VALUES (%s, 'thumb', 'jpeg', 1, 1, %s)",
        (photo_id, f"{photo_id[:2]}/{photo_id}.jpg"),
    )
    with database.connection_context(), claims.claimed(database, uuid.UUID(photo_id), **BUDGET) as claim:
        assert claim.url is not None
        assert not claim.first


def test_a_photo_another_session_holds_is_neither_claimed_nor_changed(
    database: Database, other_session: psycopg2.extensions.connection
) -> None:
    photo_id = insert_photo(database)
    _hold(other_session, photo_id)
    with database.connection_context(), claims.claimed(database, uuid.UUID(photo_id), **BUDGET) as claim:
        assert claim == claims.Claim(locked=False, url=None)
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)


@pytest.mark.parametrize(
    ("status", "claimable"), [("failed", True), ("processing", True), ("completed", False)]
)
def test_failed_and_abandoned_processing_photos_are_claimable_completed_ones_are_not(
    database: Database, status: str, claimable: bool
) -> None:
    photo_id = insert_photo(database, status=status)
    with database.connection_context(), claims.claimed(database, uuid.UUID(photo_id), **BUDGET) as claim:
        assert claim.locked
        assert (claim.url is not None) is claimable
    assert photo_row(database, photo_id)["status"] == ("processing" if claimable else status)


def test_completing_twice_leaves_one_thumbnail_row_and_clears_the_failure_reason(database: Database) -> None:
    photo_id = insert_photo(database, status="processing")
    database.execute_sql(
        "UPDATE photos SET failure_reason = 'source_unavailable: 503' WHERE uuid = %s", (photo_id,)
    )
    for _ in range(2):
        complete_with(database, photo_id, relpath="ab/x.jpg", width=320, height=213)
    row = photo_row(database, photo_id)
    assert row["status"] == "completed"
    assert row["failure_reason"] is None
    assert row["thumbnails"] == [(320, 213, "ab/x.jpg")]


def test_mark_failed_never_overwrites_a_completed_photo(database: Database) -> None:
    done = insert_photo(database, status="completed")
    working = insert_photo(database, status="processing")
    assert not claims.mark_failed(database, uuid.UUID(done), "source_unavailable: late duplicate")
    assert claims.mark_failed(database, uuid.UUID(working), "not_an_image: html")
    assert photo_row(database, done)["status"] == "completed"
    assert photo_row(database, working)["failure_reason"] == "not_an_image: html"


def test_stranded_finds_old_unlocked_claims_only_whatever_the_sign_of_the_lock_key(
    database: Database, other_session: psycopg2.extensions.connection
) -> None:
    # The first UUID's key is negative as a bigint (its halves XORed have the first bit set),
    # the second's positive.
    negative, positive, held, fresh = (
        "70000000-0000-4000-8000-000000000001",
        "f0000000-0000-4000-8000-000000000002",
        "f1000000-0000-4000-8000-000000000003",
        "f2000000-0000-4000-8000-000000000004",
    )
    assert lock_key(uuid.UUID(negative)) < 0 < lock_key(uuid.UUID(positive))
    for photo_id in (negative, positive, held, fresh):
        database.execute_sql(
            "INSERT INTO photos (uuid, url, status, claimed_at) VALUES (%s, 'http://127.0.0.1:9/x', 'processing',"
            " now() - interval '1 hour')",
            (photo_id,),
        )
    database.execute_sql("UPDATE photos SET claimed_at = now() WHERE uuid = %s", (fresh,))
    _hold(other_session, held)

    found = {str(photo_id) for photo_id in reconcile.stranded(database, lease_s=600)}

    assert found == {negative, positive}
