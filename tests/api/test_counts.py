"""photo_counts (schema/0007) stays equal to count(*) by status whatever changes the photos, and
however many transactions change them at once; /stats reads it."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import falcon.testing
import psycopg2
import psycopg2.errors
from peewee import Database

from config import Config
from tests.support.data import insert_photo, kept_and_counted

STATUSES = ("pending", "processing", "completed", "failed")
# Statements each writer runs: single photos as the worker changes them, and bulk ones.
CHANGES: list[Callable[[random.Random], tuple[str, tuple]]] = [
    lambda r: (
        "INSERT INTO photos (url) SELECT 'http://127.0.0.1:9/' || n FROM generate_series(1, %s) n",
        (r.randint(1, 50),),
    ),
    lambda r: (
        "UPDATE photos SET status = %s WHERE uuid = (SELECT uuid FROM photos ORDER BY random() LIMIT 1)",
        (r.choice(STATUSES),),
    ),
    lambda r: (
        "UPDATE photos SET status = %s WHERE uuid IN (SELECT uuid FROM photos WHERE status = %s LIMIT %s)",
        (r.choice(STATUSES), r.choice(STATUSES), r.randint(1, 40)),
    ),
    lambda r: (
        "UPDATE photos SET attempts = attempts + 1 WHERE uuid IN (SELECT uuid FROM photos LIMIT 20)",
        (),
    ),
    lambda r: (
        "DELETE FROM photos WHERE uuid IN (SELECT uuid FROM photos ORDER BY random() LIMIT %s)",
        (r.randint(1, 10),),
    ),
]


def _counts(database: Database) -> dict[str, int]:
    return kept_and_counted(database)[0]


def test_counts_follow_every_kind_of_change_of_many_writers_at_once(
    config: Config, database: Database
) -> None:
    errors: list[BaseException] = []
    rolled_back: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        conn = psycopg2.connect(config.pg_connection_uri)
        try:
            for _ in range(40):
                try:
                    with conn, conn.cursor() as cur:  # a transaction of one to three statements
                        for _ in range(rng.randint(1, 3)):
                            statement, params = rng.choice(CHANGES)(rng)
                            cur.execute(statement, params)
                except psycopg2.errors.DeadlockDetected as deadlock:
                    # Writers locking photos in other orders: one is rolled back, a chaos of its
                    # own for the counts. A deadlock on the counts' rows would be a defect.
                    if "photo_count" in str(deadlock):
                        raise
                    rolled_back.append(deadlock)
        except BaseException as error:  # a deadlock or a wrong statement fails the test below
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    kept, counted = kept_and_counted(database)
    assert sum(counted.values()) > 0
    assert kept == counted


def test_a_rolled_back_change_leaves_the_counts_as_they_were(config: Config, database: Database) -> None:
    insert_photo(database)
    before = _counts(database)
    conn = psycopg2.connect(config.pg_connection_uri)
    with conn.cursor() as cur:
        cur.execute("UPDATE photos SET status = 'failed'")
        cur.execute("INSERT INTO photos (url) VALUES ('http://127.0.0.1:9/x.jpg')")
    conn.rollback()
    conn.close()
    assert _counts(database) == before == {"pending": 1}


def test_truncate_zeroes_the_counts_and_stats_reads_them(
    client: falcon.testing.TestClient, database: Database
) -> None:
    for status in STATUSES:
        insert_photo(database, status=status)
    assert client.simulate_get("/stats").json["counts"] == dict.fromkeys(STATUSES, 1)

    database.execute_sql("TRUNCATE photos CASCADE")

    assert _counts(database) == {}
    assert client.simulate_get("/stats").json["counts"] == dict.fromkeys(STATUSES, 0)
