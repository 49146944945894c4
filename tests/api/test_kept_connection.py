"""The publisher's kept broker connection, closed by RabbitMQ while idle or under a batch: the
next batch goes out on a new connection, and no photo is lost or reported queued unconfirmed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import falcon.testing
import pytest
from peewee import Database

from config import Config
from harness.polling import wait_until
from harness.queue import QueueProbe
from harness.services import RunServices, close_connections, running_connections
from publishing import ConfirmedPublisher
from publishing.link import Link
from publishing.upkeep import PROCESS_UPKEEP
from tests.support.data import insert_photo


@pytest.fixture
def probe(config: Config) -> Iterator[Any]:
    """Opens a QueueProbe when called, once the test has closed the vhost's connections (a probe
    open meanwhile would be closed too); the queue is purged before and after."""
    probes: list[QueueProbe] = []

    def open_probe() -> QueueProbe:
        probes.append(QueueProbe(config.amqp_url))
        return probes[-1]

    open_probe().purge()
    probes.pop().close()
    yield open_probe
    open_probe().purge()
    for each in probes:
        each.close()


def _close_every_connection(services: RunServices) -> None:
    close_connections(services)
    wait_until(lambda: running_connections(services) == 0, timeout=30, message="connections closing")


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_a_connection_the_broker_closed_between_batches_is_replaced(
    publisher: ConfirmedPublisher, services: RunServices, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _ids(50), _ids(50)
    assert publisher(first) == first
    [closed] = publisher.kept()
    _close_every_connection(services)
    writes: list[int] = []
    monkeypatch.setattr(ConfirmedPublisher, "_write", _recording(ConfirmedPublisher._write, writes))

    assert publisher(second) == second

    assert writes == [50], "noticed before the batch: written once, on a new connection, not sent again"
    assert publisher.kept() != [closed]
    assert probe().photo_ids() == first + second, "each once, none lost"


def test_a_connection_found_closed_under_a_batch_sends_the_unconfirmed_again(
    publisher: ConfirmedPublisher, services: RunServices, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close arrives just after the check before the batch (here: no check at all): the
    batch is written on a dead connection, and goes out again on a new one."""
    first, second = _ids(50), _ids(50)
    assert publisher(first) == first
    _close_every_connection(services)
    monkeypatch.setattr(Link, "refresh", lambda self: None)

    assert publisher(second) == second

    assert sorted(probe().photo_ids()) == sorted(first + second)


def test_two_batches_out_when_the_connection_closes_both_go_out_again(
    publisher: ConfirmedPublisher, services: RunServices, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """process-pending writes a page before the last is confirmed: both are on the connection
    that closes, and each is sent again on the one that replaces it."""
    assert publisher(warm := _ids(10)) == warm
    _close_every_connection(services)
    monkeypatch.setattr(Link, "refresh", lambda self: None)
    first, second = _ids(40), _ids(60)

    out_first = publisher.start(first)
    out_second = publisher.start(second)

    assert publisher.finish(out_first) == first
    assert publisher.finish(out_second) == second
    assert sorted(probe().photo_ids()) == sorted(warm + first + second)


def test_post_after_the_broker_closed_the_connection_queues_and_marks_every_photo(
    client: falcon.testing.TestClient, database: Database, services: RunServices, probe: Any
) -> None:
    first = [insert_photo(database) for _ in range(20)]
    assert client.simulate_post("/photos/process", json=first).status_code == 202
    _close_every_connection(services)
    second = [insert_photo(database) for _ in range(20)]

    result = client.simulate_post("/photos/process", json=second)

    assert result.status_code == 202
    assert result.json["queued"] == second
    marked = database.execute_sql("SELECT count(*) FROM photos WHERE queued_at IS NOT NULL").fetchone()
    assert marked == (40,)
    assert probe().photo_ids() == first + second


def _with_heartbeat(url: str, seconds: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["heartbeat"] = str(seconds)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _heartbeats_sent(link: Link) -> int:
    checker = link._connection._heartbeat_checker if link._connection is not None else None
    return int(checker._heartbeat_frames_sent) if checker is not None else 0


def test_an_idle_link_keeps_its_heartbeats_and_its_connection(
    config: Config, actors_package: Any, services: RunServices, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker closes a connection after two missed heartbeats: idle for several intervals
    (heartbeat 2 s here), the link must still be the broker's, and the next batch go out on it."""
    publisher = ConfirmedPublisher(actors_package.process_photo, _with_heartbeat(config.amqp_url, 2))
    try:
        assert publisher(first := _ids(10)) == first
        [link] = publisher.kept()
        assert link.heartbeat_s == 2

        wait_until(lambda: _heartbeats_sent(link) >= 4, timeout=60, message="heartbeats sent while idle")

        assert link.is_open
        assert running_connections(services) >= 1
        resent = []
        monkeypatch.setattr(ConfirmedPublisher, "_write", _recording(ConfirmedPublisher._write, resent))
        assert publisher(second := _ids(10)) == second
        assert publisher.kept() == [link], "the same connection"
        assert len(resent) == 1, "written once, not sent again"
    finally:
        publisher.close()
    assert probe().photo_ids() == first + second


def test_closing_every_publisher_closes_their_connections(
    publisher: ConfirmedPublisher, services: RunServices, probe: Any
) -> None:
    """What gunicorn's worker_exit hook does."""
    before = running_connections(services)
    assert publisher(batch := _ids(10)) == batch
    wait_until(lambda: running_connections(services) == before + 1, timeout=30, message="the link open")

    PROCESS_UPKEEP.close_all()

    assert publisher.kept() == []
    wait_until(lambda: running_connections(services) == before, timeout=30, message="the link closed")


def _recording(write: Any, calls: list[int]) -> Any:
    def recorded(self: ConfirmedPublisher, outgoing: Any, indexes: list[int]) -> None:
        calls.append(len(indexes))
        write(self, outgoing, indexes)

    return recorded
