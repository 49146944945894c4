"""The one private part of Dramatiq we use (actors/dramatiq_private.py): a worker's consumer
whitelist, narrowed at boot to the queues of WORKER_LANES. Checked on a real Worker, so a
Dramatiq upgrade that renames or drops the attribute fails here, not in production. In the api
tier, since importing anything of `actors` imports the package, which builds its broker with
this run's settings (tests/conftest.py's actors_package)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

NEW_QUEUE = "photo-processor"
RERENDER_QUEUE = "photo-processor.rerender"


@pytest.fixture
def serve_only(actors_package: Any) -> Callable[[Worker, set[str]], None]:
    from actors.dramatiq_private import serve_only

    return serve_only


@pytest.fixture
def queues_of(actors_package: Any) -> Callable[[tuple[str, ...]], set[str]]:
    from actors.lanes import NEW_QUEUE as new_queue
    from actors.lanes import RERENDER_QUEUE as rerender_queue
    from actors.lanes import queues_of

    assert (new_queue, rerender_queue) == (NEW_QUEUE, RERENDER_QUEUE)
    return queues_of


@pytest.fixture
def broker() -> StubBroker:
    broker = StubBroker()
    broker.declare_queue(NEW_QUEUE)
    broker.declare_queue(RERENDER_QUEUE)
    return broker


def consumed(worker: Worker) -> set[str]:
    """The queues a started worker has consumers for (delay queues included), as Dramatiq decides."""
    worker.start()
    try:
        return set(worker.consumers)
    finally:
        worker.stop()


def test_the_worker_consumes_only_its_lanes_queues(
    broker: StubBroker,
    serve_only: Callable[[Worker, set[str]], None],
    queues_of: Callable[[tuple[str, ...]], set[str]],
) -> None:
    worker = Worker(broker, worker_threads=1)
    serve_only(worker, queues_of(("rerender",)))
    assert worker.consumer_whitelist == {RERENDER_QUEUE}
    assert consumed(worker) == {RERENDER_QUEUE, f"{RERENDER_QUEUE}.DQ"}


def test_both_lanes_are_both_queues(
    broker: StubBroker,
    serve_only: Callable[[Worker, set[str]], None],
    queues_of: Callable[[tuple[str, ...]], set[str]],
) -> None:
    worker = Worker(broker, worker_threads=1)
    serve_only(worker, queues_of(("new", "rerender")))
    assert consumed(worker) == {NEW_QUEUE, f"{NEW_QUEUE}.DQ", RERENDER_QUEUE, f"{RERENDER_QUEUE}.DQ"}


def test_queues_given_on_the_command_line_narrow_the_lanes_further(
    broker: StubBroker,
    serve_only: Callable[[Worker, set[str]], None],
    queues_of: Callable[[tuple[str, ...]], set[str]],
) -> None:
    worker = Worker(broker, queues={NEW_QUEUE}, worker_threads=1)
    serve_only(worker, queues_of(("new", "rerender")))
    assert worker.consumer_whitelist == {NEW_QUEUE}


def test_no_queue_in_common_is_refused_rather_than_serving_every_queue(
    broker: StubBroker,
    serve_only: Callable[[Worker, set[str]], None],
    queues_of: Callable[[tuple[str, ...]], set[str]],
) -> None:
    worker = Worker(broker, queues={NEW_QUEUE}, worker_threads=1)
    with pytest.raises(RuntimeError, match="no queue in common"):
        serve_only(worker, queues_of(("rerender",)))
