"""process-pending's pipelining (service/process_pending.py) when the database is slow or fails under it:
a page on the wire is never failed by the next page's read, nor left unaccounted for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import peewee
import pytest
from peewee import Database

from config import Config
from harness.polling import wait_until
from harness.queue import QueueProbe
from pipeline import process_requests
from publishing import ConfirmedPublisher
from service import cli, process_pending
from tests.support.data import insert_photo

DEADLINE_S = 2.0
PAGE = 10


@pytest.fixture
def publisher(config: Config, actors_package: Any) -> Iterator[ConfirmedPublisher]:
    publisher = ConfirmedPublisher(actors_package.process_photo, config.amqp_url, deadline_s=DEADLINE_S)
    yield publisher
    publisher.close()


def _on_page_read(
    database: Database, monkeypatch: pytest.MonkeyPatch, number: int, act: Callable[[], None]
) -> None:
    """Run `act` in place of the start of the `number`th page read (on the database thread)."""
    real = database.execute_sql
    reads = 0

    def execute_sql(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        if sql is process_pending._PAGE:
            reads += 1
            if reads == number:
                act()
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", execute_sql)


def _fail() -> None:
    raise peewee.OperationalError("server closed the connection unexpectedly (injected)\nmore")


def _marked(database: Database) -> int:
    return int(database.execute_sql("SELECT count(*) FROM photos WHERE queued_at IS NOT NULL").fetchone()[0])


def test_a_page_read_slower_than_the_deadline_fails_no_page(
    publisher: ConfirmedPublisher,
    database: Database,
    queue: QueueProbe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo_ids = [insert_photo(database) for _ in range(3 * PAGE)]
    held = threading.Event()

    def hold() -> None:
        # The first page is written before this read returns: its messages reach the broker
        # meanwhile, and its deadline, were it counted from its start, passes.
        wait_until(lambda: queue.depth() >= PAGE, timeout=30, message="the first page on the broker")
        past = time.monotonic() + DEADLINE_S
        wait_until(lambda: time.monotonic() > past, timeout=30, message="a deadline's time")
        held.set()

    _on_page_read(database, monkeypatch, 2, hold)

    sent = process_pending.queue_by_status(
        publisher, status="pending", skip_queued_within_s=0, batch_size=PAGE
    )

    assert held.is_set()
    assert sent == 3 * PAGE
    assert sorted(queue.photo_ids()) == sorted(photo_ids), "each once"
    monkeypatch.undo()
    assert _marked(database) == 3 * PAGE


def test_a_failed_page_read_settles_the_page_on_the_wire_first(
    publisher: ConfirmedPublisher, database: Database, queue: QueueProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3 * PAGE):
        insert_photo(database)
    _on_page_read(database, monkeypatch, 3, _fail)

    with pytest.raises(process_pending.DatabaseStopped) as stopped:
        process_pending.queue_by_status(publisher, status="pending", skip_queued_within_s=0, batch_size=PAGE)

    assert stopped.value.sent == 2 * PAGE, "the second page was out when the third read failed"
    assert isinstance(stopped.value.__cause__, peewee.OperationalError)
    monkeypatch.undo()
    assert _marked(database) == 2 * PAGE
    assert len(set(queue.photo_ids())) == 2 * PAGE


def test_process_pending_says_the_database_failed_and_what_was_queued(
    actors_package: Any, database: Database, queue: QueueProbe, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for _ in range(3 * PAGE):
        insert_photo(database)
    _on_page_read(database, monkeypatch, 3, _fail)

    code = cli.main(["process-pending", "--batch-size", str(PAGE)])

    assert code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "the database failed: server closed the connection unexpectedly (injected);"
        f" {2 * PAGE} photo(s) queued before it. Run the command again."
    )


def test_an_error_marking_photos_queued_is_raised(
    publisher: ConfirmedPublisher, database: Database, queue: QueueProbe, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3 * PAGE):
        insert_photo(database)

    def broken(db: Database, photo_ids: list[str]) -> None:
        raise peewee.ProgrammingError("column queued_at does not exist (injected)")

    monkeypatch.setattr(process_requests, "mark_sent", broken)

    with pytest.raises(process_pending.DatabaseStopped) as stopped:
        process_pending.queue_by_status(publisher, status="pending", skip_queued_within_s=0, batch_size=PAGE)

    assert isinstance(stopped.value.__cause__, peewee.ProgrammingError)
    assert len(set(queue.photo_ids())) == stopped.value.sent > 0, "what went out is counted"
