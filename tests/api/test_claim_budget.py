"""What one request to process a photo may cost, counted in the claim on the real database:
crashes (attempts with no outcome), attempts, and a fresh budget for each new request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from peewee import Database

from pipeline import claims, process_requests, reconcile
from pipeline.locks import lock_key
from tests.support.data import complete_with, insert_photo, photo_row

MAX_ATTEMPTS, MAX_CRASHES = 4, 3


@contextmanager
def claim(database: Database, photo_id: str) -> Iterator[claims.Claim]:
    """Claim the photo as a worker does, with RETRY_MAX=3 and MAX_CRASHES=3."""
    with (
        database.connection_context(),
        claims.claimed(
            database, uuid.UUID(photo_id), max_attempts=MAX_ATTEMPTS, max_crashes=MAX_CRASHES
        ) as found,
    ):
        yield found


def crash(database: Database, photo_id: str) -> claims.Claim:
    """A claim whose worker dies: the block ends without recording any outcome."""
    with claim(database, photo_id) as found:
        return found


def test_an_attempt_left_open_counts_as_a_crash_at_the_next_claim(database: Database) -> None:
    photo_id = insert_photo(database)
    assert crash(database, photo_id).url is not None
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"], row["crashes"], row["attempt_open"]) == ("processing", 1, 0, True)

    with claim(database, photo_id) as found:
        assert found.url is not None
    row = photo_row(database, photo_id)
    assert (row["attempts"], row["crashes"]) == (2, 1)


def test_at_max_crashes_the_claim_fails_the_photo_instead_of_handing_it_out(database: Database) -> None:
    photo_id = insert_photo(database)
    for _ in range(MAX_CRASHES):
        assert crash(database, photo_id).url is not None

    found = crash(database, photo_id)

    assert (found.locked, found.url, found.failed_code) == (True, None, "crashed")
    assert found.failed_reason is not None
    assert found.failed_reason.startswith(f"crashed: the worker stopped {MAX_CRASHES} times")
    row = photo_row(database, photo_id)
    assert (row["status"], row["crashes"], row["attempt_open"]) == ("failed", MAX_CRASHES, False)
    assert row["failure_reason"] == found.failed_reason


def test_attempts_that_ended_with_an_error_are_not_crashes(database: Database) -> None:
    photo_id = insert_photo(database)
    for _ in range(MAX_CRASHES + 1):
        with claim(database, photo_id) as found:
            assert found.url is not None
            claims.end_attempt(
                database, uuid.UUID(photo_id), "source_unavailable: HTTP 503", retried=True, counted=True
            )
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"], row["crashes"]) == ("processing", MAX_CRASHES + 1, 0)
    assert row["failure_reason"] == "source_unavailable: HTTP 503"
    assert row["queued_at"] is not None, "a retry was sent: the reconciler's lease starts again"


def test_with_no_attempt_left_the_claim_fails_the_photo_with_its_last_error(database: Database) -> None:
    photo_id = insert_photo(database)
    for _ in range(MAX_ATTEMPTS):
        with claim(database, photo_id):
            claims.end_attempt(
                database, uuid.UUID(photo_id), "source_unavailable: HTTP 503", retried=True, counted=True
            )

    with claim(database, photo_id) as found:
        assert (found.url, found.failed_code) == (None, "retries_exhausted")
        assert found.failed_reason == "source_unavailable: HTTP 503"
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)

    # A stale duplicate for the failed photo changes nothing and fetches nothing.
    with claim(database, photo_id) as found:
        assert found == claims.Claim(locked=True, url=None)
    assert photo_row(database, photo_id)["attempts"] == MAX_ATTEMPTS


def test_an_attempt_that_fetched_nothing_does_not_count_against_the_budget(database: Database) -> None:
    """Our storage was down: the attempt stopped before the download."""
    photo_id = insert_photo(database)
    for _ in range(MAX_ATTEMPTS * 3):
        with claim(database, photo_id) as found:
            assert found.url is not None
            claims.end_attempt(
                database, uuid.UUID(photo_id), "storage_error: full", retried=True, counted=False
            )
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"], row["crashes"]) == ("processing", MAX_ATTEMPTS * 3, 0)
    with claim(database, photo_id) as found:
        assert found.url is not None, "none of them counted against the budget"


def test_a_new_request_starts_a_fresh_budget_for_pending_and_failed_photos_only(database: Database) -> None:
    failed = insert_photo(database)
    for _ in range(MAX_CRASHES + 1):
        crash(database, failed)
    working = insert_photo(database)
    crash(database, working)
    assert photo_row(database, failed)["status"] == "failed"

    process_requests.start_request(database, [failed, working])

    assert (photo_row(database, failed)["attempts"], photo_row(database, failed)["crashes"]) == (0, 0)
    assert photo_row(database, working)["attempts"] == 1, "a photo being processed keeps its count"
    with claim(database, failed) as found:
        assert found.url is not None


def test_completing_a_photo_deleted_meanwhile_records_nothing(database: Database) -> None:
    photo_id = insert_photo(database, status="processing")
    database.execute_sql("DELETE FROM photos WHERE uuid = %s", (photo_id,))
    assert not complete_with(database, photo_id, relpath="ab/x.jpg", width=1, height=1)
    assert database.execute_sql("SELECT count(*) FROM photo_thumbnails").fetchone()[0] == 0


def test_a_photo_sent_a_message_within_the_lease_is_not_stranded(database: Database) -> None:
    """A retry waiting behind a long backlog, or a message the reconciler just sent."""
    waiting, stranded = (
        insert_photo(database, status="processing"),
        insert_photo(database, status="processing"),
    )
    database.execute_sql(
        "UPDATE photos SET claimed_at = now() - interval '1 hour', queued_at = now() - interval '1 hour'"
        " WHERE uuid IN (%s, %s)",
        (waiting, stranded),
    )
    process_requests.mark_sent(database, [waiting])
    assert {str(photo_id) for photo_id in reconcile.stranded(database, lease_s=600)} == {stranded}


def test_the_lock_key_uses_both_halves_of_the_uuid() -> None:
    """UUIDv7s made in the same millisecond share most of their first half."""
    first = uuid.UUID("01890a5d-ac96-7000-8000-000000000001")
    second = uuid.UUID("01890a5d-ac96-7000-8000-000000000002")
    assert lock_key(first) != lock_key(second)
    assert -(2**63) <= lock_key(uuid.UUID(int=2**128 - 1)) < 2**63


def test_an_attempt_left_open_by_an_outage_of_ours_is_spared_not_a_crash(database: Database) -> None:
    """The database went away mid-attempt: the attempt could not be closed, and the message's
    outage retry says so to the next claim."""
    photo_id = insert_photo(database)
    crash(database, photo_id)
    with (
        database.connection_context(),
        claims.claimed(
            database,
            uuid.UUID(photo_id),
            max_attempts=MAX_ATTEMPTS,
            max_crashes=MAX_CRASHES,
            after_outage=True,
        ) as found,
    ):
        assert found.url is not None
    row = photo_row(database, photo_id)
    assert (row["attempts"], row["crashes"]) == (2, 0)


def test_a_copy_of_a_message_for_a_photo_that_failed_since_changes_nothing(database: Database) -> None:
    """A 404 failed the photo at its first attempt; a late duplicate must not fetch it again."""
    photo_id = insert_photo(database)
    with claim(database, photo_id):
        pass
    claims.mark_failed(database, uuid.UUID(photo_id), "source_http_error: source answered HTTP 404")

    with claim(database, photo_id) as found:
        assert found == claims.Claim(locked=True, url=None)
    row = photo_row(database, photo_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    process_requests.start_request(database, [photo_id])
    with claim(database, photo_id) as found:
        assert found.url is not None, "a new request may process it again"
