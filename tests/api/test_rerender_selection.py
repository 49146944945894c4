"""Which completed photos `python -m service rerender` queues, on the real database: the stale
ones by fingerprint, narrowed by its options, each once; and what /stats says of each lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest
from peewee import Database

from publishing import PublishInterrupted
from service import rerender
from tests.support.data import complete_with, insert_photo

CURRENT = "c" * 16


def completed(database: Database, rendered_with: str, *, preset: str = "thumb") -> str:
    photo_id = insert_photo(database)
    assert complete_with(
        database, photo_id, relpath=f"{photo_id}.jpg", width=320, height=240, rendered_with=rendered_with
    )
    if preset != "thumb":
        database.execute_sql(
            "UPDATE photo_thumbnails SET preset = %s WHERE photo_uuid = %s", (preset, photo_id)
        )
    return photo_id


def queue(database: Database, selection: rerender.Selection, *, batch_size: int = 2) -> list[str]:
    """Run the queueing with a publisher that confirms everything; the photos it was handed."""
    sent: list[str] = []

    def publish(photo_ids: list[str]) -> list[str]:
        sent.extend(photo_ids)
        return photo_ids

    assert rerender.queue_stale(database, publish, selection, batch_size=batch_size) == len(sent)
    return sent


def test_stale_photos_on_either_side_of_the_current_fingerprint_are_queued_once(database: Database) -> None:
    stale = {completed(database, fp) for fp in ("", "a" * 16, "a" * 16, "f" * 16, "f" * 16)}
    completed(database, CURRENT)
    insert_photo(database)  # pending: the new-photo lane's
    selection = rerender.Selection(fingerprint=CURRENT, formats=1)
    assert rerender.count(database, selection) == 5
    sent = queue(database, selection)
    assert sorted(sent) == sorted(stale)
    assert rerender.count(database, selection) == 0, "queued within a day: not again"
    assert queue(database, selection) == []
    assert (
        rerender.count(database, rerender.Selection(fingerprint=CURRENT, formats=1, skip_queued_within_s=0))
        == 5
    )
    assert rerender.count(database, rerender.Selection(fingerprint="d" * 16, formats=1)) == 6, (
        "newer settings queue again what older ones queued"
    )


def test_limit_since_and_preset_narrow_the_run(database: Database) -> None:
    old = completed(database, "a" * 16)
    database.execute_sql("UPDATE photos SET created_at = now() - interval '10 days' WHERE uuid = %s", (old,))
    recent = [completed(database, "a" * 16) for _ in range(3)]
    with_lg = completed(database, "a" * 16, preset="lg")
    since = datetime.now(UTC) - timedelta(days=1)
    assert rerender.count(database, rerender.Selection(fingerprint=CURRENT, formats=1, since=since)) == 4
    assert rerender.count(database, rerender.Selection(fingerprint=CURRENT, formats=1, preset="lg")) == 4
    assert with_lg not in queue(database, rerender.Selection(fingerprint=CURRENT, formats=1, preset="lg"))
    database.execute_sql("UPDATE photos SET rerender_queued_at = NULL, rerender_queued_for = NULL")
    limited = queue(database, rerender.Selection(fingerprint=CURRENT, formats=1, limit=2), batch_size=5)
    assert len(limited) == 2
    assert set(limited) <= {old, *recent, with_lg}


def test_a_failed_rerender_is_left_out_unless_asked(database: Database) -> None:
    photo_id = completed(database, "a" * 16)
    database.execute_sql(
        "UPDATE photos SET rerender_failed_with = %s, rerender_failure = 'x' WHERE uuid = %s",
        (CURRENT, photo_id),
    )
    assert rerender.count(database, rerender.Selection(fingerprint=CURRENT, formats=1)) == 0
    assert queue(database, rerender.Selection(fingerprint=CURRENT, formats=1, retry_failed=True)) == [
        photo_id
    ]


def test_photos_the_broker_did_not_take_are_unmarked_for_the_next_run(database: Database) -> None:
    for _ in range(4):
        completed(database, "a" * 16)

    def publish(batch: list[str]) -> list[str]:
        raise PublishInterrupted(queued=batch[:1], not_queued=batch[1:])

    selection = rerender.Selection(fingerprint=CURRENT, formats=1)
    with pytest.raises(PublishInterrupted):
        rerender.queue_stale(database, publish, selection, batch_size=4)
    assert rerender.count(database, selection) == 3, "only the confirmed one stays marked"


def test_stats_show_each_lanes_backlog_and_rate(
    client: falcon.testing.TestClient, database: Database
) -> None:
    queued = [insert_photo(database) for _ in range(3)]
    insert_photo(database)  # pending, never queued: in no lane
    database.execute_sql("UPDATE photos SET queued_at = now() WHERE uuid = ANY(%s::uuid[])", (queued,))
    done = [completed(database, "a" * 16) for _ in range(2)]
    queue(database, rerender.Selection(fingerprint=CURRENT, formats=1))
    assert client.simulate_get("/stats").json["lanes"] == {
        "new": {"backlog": 3, "per_minute": 2},
        "rerender": {"backlog": 2, "per_minute": 0},
    }
    database.execute_sql(
        "UPDATE photos SET rerendered_at = now(), rerender_queued_at = NULL WHERE uuid = %s", (done[0],)
    )
    assert client.simulate_get("/stats").json["lanes"]["rerender"] == {"backlog": 1, "per_minute": 1}
