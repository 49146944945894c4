"""The webhooks' outbox (schema/0009) on the real database: one event per change of a photo's
status into completed or failed, written in the same transaction whatever makes the change, and
the delivery loop's statements (claim with a lease, backoff, dead past the give-up time, prune)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg2
import pytest
from peewee import Database

from config import Config
from pipeline import claims
from tests.api.test_claim_budget import MAX_CRASHES, crash
from tests.support.data import complete_with, insert_photo, kept_and_counted
from tests.support.webhook_events import events_of
from webhooks import outbox


@pytest.fixture(autouse=True)
def no_events(database: Database) -> None:
    database.execute_sql("DELETE FROM webhook_events")


def _complete(database: Database, photo_id: str) -> None:
    database.execute_sql("UPDATE photos SET status = 'processing' WHERE uuid = %s", (photo_id,))
    assert complete_with(database, photo_id, relpath="ab/x.jpg", width=320, height=240)


def test_completing_a_photo_writes_one_event_with_its_thumbnail(database: Database) -> None:
    photo_id = insert_photo(database, "http://127.0.0.1:9/a.jpg")

    _complete(database, photo_id)

    [event] = events_of(database, photo_id)
    assert (event["type"], event["state"], event["attempts"]) == ("photo.completed", "pending", 0)
    photo = event["payload"]
    assert (photo["uuid"], photo["url"], photo["status"]) == (
        photo_id,
        "http://127.0.0.1:9/a.jpg",
        "completed",
    )
    assert photo["failure_reason"] is None
    [thumbnail] = photo["thumbnails"]
    assert (thumbnail["width"], thumbnail["height"], thumbnail["url"]) == (320, 240, "ab/x.jpg")


def test_failing_a_photo_writes_one_event_with_its_reason_and_failing_it_again_none(
    database: Database,
) -> None:
    photo_id = insert_photo(database, status="processing")

    assert claims.mark_failed(database, uuid.UUID(photo_id), "http_404: the source answered 404")
    claims.mark_failed(database, uuid.UUID(photo_id), "http_410: another reason, same status")

    [event] = events_of(database, photo_id)
    assert event["type"] == "photo.failed"
    assert event["payload"]["failure_reason"] == "http_404: the source answered 404"
    assert event["payload"]["thumbnails"] == []


def test_the_claim_that_fails_a_photo_after_max_crashes_writes_its_event(database: Database) -> None:
    photo_id = insert_photo(database)
    for _ in range(MAX_CRASHES + 1):
        crash(database, photo_id)

    [event] = events_of(database, photo_id)
    assert event["type"] == "photo.failed"
    assert event["payload"]["failure_reason"].startswith("crashed:")


def test_updates_that_reach_no_final_state_write_no_event(database: Database) -> None:
    photo_id = insert_photo(database)
    for statement in (
        "UPDATE photos SET status = 'processing' WHERE uuid = %s",
        "UPDATE photos SET attempts = attempts + 1, queued_at = now() WHERE uuid = %s",
        "UPDATE photos SET status = 'pending' WHERE uuid = %s",
    ):
        database.execute_sql(statement, (photo_id,))
    assert events_of(database, photo_id) == []

    _complete(database, photo_id)
    database.execute_sql("UPDATE photos SET status = 'completed', attempts = 9 WHERE uuid = %s", (photo_id,))
    assert [event["type"] for event in events_of(database, photo_id)] == ["photo.completed"]


def test_a_hand_run_bulk_update_writes_one_event_per_photo_and_a_rollback_none(
    config: Config, database: Database
) -> None:
    photo_ids = [insert_photo(database) for _ in range(5)]
    conn = psycopg2.connect(config.pg_connection_uri)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE photos SET status = 'completed' WHERE uuid = ANY(%s::uuid[])", (photo_ids[:2],)
            )
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE photos SET status = 'failed' WHERE uuid = ANY(%s::uuid[])", (photo_ids[2:],))
            conn.rollback()
    finally:
        conn.close()

    assert [len(events_of(database, photo_id)) for photo_id in photo_ids] == [1, 1, 0, 0, 0]
    kept, counted = kept_and_counted(database)
    assert kept == counted, "the count triggers of schema/0007 still follow every change"


def _in_one_transaction(config: Config, *statements: tuple[str, tuple[str, ...]]) -> None:
    conn = psycopg2.connect(config.pg_connection_uri)
    try:
        with conn, conn.cursor() as cur:
            for statement, params in statements:
                cur.execute(statement, params)
    finally:
        conn.close()


SET_STATUS = "UPDATE photos SET status = %s, failure_reason = %s WHERE uuid = %s"


def test_a_final_state_set_back_to_pending_in_the_same_transaction_writes_no_event(
    config: Config, database: Database
) -> None:
    photo_id = insert_photo(database, status="processing")

    _in_one_transaction(
        config, (SET_STATUS, ("completed", None, photo_id)), (SET_STATUS, ("pending", None, photo_id))
    )

    assert events_of(database, photo_id) == []


def test_completed_then_failed_in_one_transaction_writes_only_the_committed_failure(
    config: Config, database: Database
) -> None:
    photo_id = insert_photo(database, status="processing")

    _in_one_transaction(
        config,
        (SET_STATUS, ("completed", None, photo_id)),
        (SET_STATUS, ("failed", "http_404: gone", photo_id)),
    )

    [event] = events_of(database, photo_id)
    assert (event["type"], event["payload"]["status"]) == ("photo.failed", "failed")
    assert event["payload"]["failure_reason"] == "http_404: gone"


def test_the_same_final_state_reached_twice_in_one_transaction_writes_one_event(
    config: Config, database: Database
) -> None:
    photo_id = insert_photo(database, status="processing")

    _in_one_transaction(
        config,
        (SET_STATUS, ("completed", None, photo_id)),
        (SET_STATUS, ("pending", None, photo_id)),
        (SET_STATUS, ("completed", None, photo_id)),
    )

    assert [event["type"] for event in events_of(database, photo_id)] == ["photo.completed"]


def test_a_photo_failed_then_deleted_in_one_transaction_writes_no_event(
    config: Config, database: Database
) -> None:
    photo_id = insert_photo(database, status="processing")

    _in_one_transaction(
        config,
        (SET_STATUS, ("failed", "http_404: gone", photo_id)),
        ("DELETE FROM photos WHERE uuid = %s", (photo_id,)),
    )

    assert events_of(database, photo_id) == []


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_a_photo_inserted_already_final_writes_its_event(database: Database, status: str) -> None:
    photo_id = insert_photo(database, status=status)

    [event] = events_of(database, photo_id)
    assert (event["type"], event["payload"]["status"]) == (f"photo.{status}", status)


def test_a_photo_inserted_pending_writes_no_event(database: Database) -> None:
    assert events_of(database, insert_photo(database)) == []


def test_a_photo_with_events_can_be_deleted_and_its_events_stay(database: Database) -> None:
    photo_id = insert_photo(database)
    _complete(database, photo_id)

    database.execute_sql("DELETE FROM photos WHERE uuid = %s", (photo_id,))

    [event] = events_of(database, photo_id)
    assert event["payload"]["uuid"] == photo_id


# --- the delivery loop's statements ----------------------------------------------------------


def _one_due(database: Database) -> outbox.Event:
    photo_id = insert_photo(database, status="processing")
    claims.mark_failed(database, uuid.UUID(photo_id), "http_404: gone")
    [event] = outbox.claim_due(database, limit=10, lease_s=60)
    return event


def test_a_claimed_event_is_leased_and_not_claimed_again_until_its_lease_ends(database: Database) -> None:
    event = _one_due(database)
    assert event.attempts == 1
    assert outbox.claim_due(database, limit=10, lease_s=60) == []

    outbox.release(database, [event])
    [again] = outbox.claim_due(database, limit=10, lease_s=60)
    assert (again.id, again.attempts) == (event.id, 2)


def test_a_failed_delivery_backs_off_then_is_dead_past_the_give_up_time(database: Database) -> None:
    event = _one_due(database)

    assert (
        outbox.failed(database, event, "HTTP 500: oops", give_up_after_s=3600, max_backoff_s=60) == "pending"
    )
    [row] = events_of(database, str(event.photo["uuid"]))
    assert (row["state"], row["last_error"]) == ("pending", "HTTP 500: oops")
    wait = row["next_attempt_at"] - row["occurred_at"]
    # The first backoff: 0.5 to 1 s after the failure (jittered), which came after occurred_at;
    # 1.5 s leaves half a second for the statements between them on a loaded machine.
    assert timedelta(seconds=0.5) <= wait < timedelta(seconds=1.5), "the first backoff: about a second"

    database.execute_sql(
        "UPDATE webhook_events SET occurred_at = now() - interval '2 hours', next_attempt_at = now()"
        " WHERE id = %s",
        (str(event.id),),
    )
    [again] = outbox.claim_due(database, limit=10, lease_s=60)
    assert again.attempts == 2
    assert (
        outbox.failed(database, again, "timeout: no answer", give_up_after_s=3600, max_backoff_s=60) == "dead"
    )
    [row] = events_of(database, str(event.photo["uuid"]))
    assert (row["state"], row["last_error"]) == ("dead", "timeout: no answer")
    assert outbox.claim_due(database, limit=10, lease_s=60) == []


def test_prune_deletes_old_finished_events_and_old_pending_ones_only_when_asked(database: Database) -> None:
    delivered, pending = _one_due(database), _one_due(database)
    assert outbox.delivered(database, delivered)
    outbox.release(database, [pending])
    database.execute_sql("UPDATE webhook_events SET occurred_at = now() - interval '2 days'")

    assert outbox.prune(database, retention_s=86400, pending_too=False) == 1
    assert outbox.prune(database, retention_s=86400, pending_too=False) == 0
    assert outbox.prune(database, retention_s=86400, pending_too=True) == 1


def test_a_sender_whose_lease_ran_out_cannot_record_over_the_next_claim(database: Database) -> None:
    stale = _one_due(database)
    database.execute_sql("UPDATE webhook_events SET next_attempt_at = now() WHERE id = %s", (str(stale.id),))
    [current] = outbox.claim_due(database, limit=10, lease_s=60)
    assert (current.id, current.attempts) == (stale.id, 2)

    assert outbox.failed(database, stale, "HTTP 500: late", give_up_after_s=0, max_backoff_s=60) is None
    assert not outbox.delivered(database, stale)
    outbox.release(database, [stale])
    [row] = events_of(database, str(stale.photo["uuid"]))
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 2, None)
    assert outbox.claim_due(database, limit=10, lease_s=60) == [], "the current claim's lease stands"

    assert outbox.delivered(database, current)
    assert not outbox.delivered(database, current), "recorded once"
    [row] = events_of(database, str(stale.photo["uuid"]))
    assert row["state"] == "delivered"
