"""Publishing a batch with pipelined publisher confirms, against the run's real RabbitMQ vhost:
every message in Dramatiq's wire format, and none counted as queued that the broker did not ack."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from peewee import Database

from harness.polling import wait_until
from harness.queue import QUEUE, QueueProbe
from harness.services import RunServices, clear_policy, policy_of, set_policy
from publishing import ConfirmedPublisher, PublishInterrupted
from tests.support.data import insert_photo

LIMIT = "photo-processor-limit"


@pytest.fixture
def queue_of_500(services: RunServices, queue: QueueProbe, actors_package: Any) -> Iterator[QueueProbe]:
    """The queue refusing (nacking) what would take it past 500 messages, as a full queue does."""
    actors_package.broker.declare_queue(QUEUE, ensure=True)  # a policy applies to queues that exist
    set_policy(services, LIMIT, f"^{QUEUE}$", '{"max-length": 500, "overflow": "reject-publish"}')
    try:
        wait_until(lambda: policy_of(services, QUEUE) == LIMIT, timeout=30, message="policy in effect")
        yield queue
    finally:
        clear_policy(services, LIMIT)
        wait_until(lambda: policy_of(services, QUEUE) == "", timeout=30, message="policy gone")


def test_a_thousand_messages_are_queued_in_order_in_dramatiqs_format(
    publisher: ConfirmedPublisher, queue: QueueProbe, actors_package: Any
) -> None:
    photo_ids = [str(uuid.uuid4()) for _ in range(1000)]

    assert publisher(photo_ids) == photo_ids

    actors_package.process_photo.send(photo_id := str(uuid.uuid4()))  # one as the actor sends it
    messages = queue.messages()
    bodies = [json.loads(body) for _properties, body in messages]
    sent_properties = vars(messages[-1][0])
    assert (sent_properties["delivery_mode"], sent_properties["priority"]) == (2, None)
    assert all(vars(properties) == sent_properties for properties, _body in messages), "as a send's"
    assert [body["args"] for body in bodies] == [[p] for p in [*photo_ids, photo_id]]
    assert all(body.keys() == bodies[-1].keys() for body in bodies), "the same fields as a send"
    assert all(
        (body["queue_name"], body["actor_name"], body["kwargs"]) == (QUEUE, "process_photo", {})
        for body in bodies
    )
    assert len({body["message_id"] for body in bodies}) == len(bodies)


def test_a_message_no_queue_takes_comes_back_and_is_not_queued(
    publisher: ConfirmedPublisher, queue: QueueProbe
) -> None:
    """Published mandatory: with the queue deleted by hand, the broker returns each message rather
    than drop it and ack; the queue is declared again for the next batch."""
    assert publisher(first := [str(uuid.uuid4()) for _ in range(10)]) == first
    queue.delete()
    lost = [str(uuid.uuid4()) for _ in range(10)]

    with pytest.raises(PublishInterrupted) as interrupted:
        publisher(lost)

    assert (interrupted.value.queued, interrupted.value.not_queued) == ([], lost)
    assert publisher(then := [str(uuid.uuid4()) for _ in range(10)]) == then
    assert queue.photo_ids() == then


def test_messages_the_broker_refuses_are_not_queued_and_are_named(
    publisher: ConfirmedPublisher, queue_of_500: QueueProbe
) -> None:
    photo_ids = [str(uuid.uuid4()) for _ in range(800)]

    with pytest.raises(PublishInterrupted) as interrupted:
        publisher(photo_ids)

    assert interrupted.value.queued == photo_ids[:500]
    assert interrupted.value.not_queued == photo_ids[500:]
    assert queue_of_500.photo_ids() == photo_ids[:500], "what was acked is on the queue, nothing else"


def test_an_unreachable_broker_queues_nothing(actors_package: Any) -> None:
    nobody = "amqp://guest:guest@127.0.0.1:9/%2F?connection_attempts=1&socket_timeout=2"
    photo_ids = [str(uuid.uuid4()) for _ in range(10)]  # a batch: smaller ones go through the actor

    with pytest.raises(PublishInterrupted) as interrupted:
        ConfirmedPublisher(actors_package.process_photo, nobody)(photo_ids)

    assert (interrupted.value.queued, interrupted.value.not_queued) == ([], photo_ids)


def test_a_broker_that_never_answers_queues_nothing_once_the_deadline_passed(actors_package: Any) -> None:
    """A peer that accepts the connection and then says nothing (a hung broker, a black-holed
    network): the call ends at its deadline, its socket dropped, rather than hanging a thread."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        url = f"amqp://guest:guest@127.0.0.1:{port}/%2F?connection_attempts=1&stack_timeout=60"
        photo_ids = [str(uuid.uuid4()) for _ in range(20)]

        with pytest.raises(PublishInterrupted) as interrupted:
            ConfirmedPublisher(actors_package.process_photo, url, deadline_s=1)(photo_ids)

    assert (interrupted.value.queued, interrupted.value.not_queued) == ([], photo_ids)
    assert isinstance(interrupted.value.__cause__, TimeoutError)


def test_post_process_answers_503_with_what_the_broker_acked_and_marks_only_those_queued(
    client: falcon.testing.TestClient, database: Database, queue_of_500: QueueProbe
) -> None:
    photo_ids = [insert_photo(database) for _ in range(600)]

    result = client.simulate_post("/photos/process", json=photo_ids)

    assert result.status_code == 503
    assert result.json["queued"] == photo_ids[:500]
    assert result.json["not_queued"] == photo_ids[500:]
    marked = {
        str(row[0])
        for row in database.execute_sql("SELECT uuid FROM photos WHERE queued_at IS NOT NULL").fetchall()
    }
    assert marked == set(photo_ids[:500])
    assert queue_of_500.photo_ids() == photo_ids[:500]


def test_on_written_runs_once_a_batch_is_on_the_wire_and_never_for_one_that_is_not(
    publisher: ConfirmedPublisher, queue: QueueProbe, actors_package: Any
) -> None:
    calls: list[int] = []
    photo_ids = [str(uuid.uuid4()) for _ in range(1000)]

    assert publisher(photo_ids, on_written=lambda: calls.append(1)) == photo_ids
    assert calls == [1]
    assert queue.photo_ids() == photo_ids

    # A few go one at a time through the actor, which waits for each confirm: nothing to overlap.
    assert publisher(photo_ids[:2], on_written=lambda: calls.append(2)) == photo_ids[:2]
    nobody = "amqp://guest:guest@127.0.0.1:9/%2F?connection_attempts=1&socket_timeout=2"
    with pytest.raises(PublishInterrupted):
        ConfirmedPublisher(actors_package.process_photo, nobody)(
            photo_ids, on_written=lambda: calls.append(3)
        )
    assert calls == [1]
