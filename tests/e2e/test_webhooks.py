"""Completion webhooks end to end: real workers deliver the outbox's events to a receiver on
127.0.0.1 that checks every signature, through a batch, a receiver that is down, refuses or never
answers, and a worker killed mid-batch. What the database says is final is the reference: each
photo's final states, one event each, and the receiver has each event, verified (more than once
only as the same event id)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from harness import proc_tree
from harness.imageserver import ImageServer, Reply
from harness.polling import wait_until
from harness.service_processes import free_port
from harness.webhook_receiver import WebhookReceiver
from pipeline import process_requests
from tests.e2e.conftest import Honcho
from tests.e2e.reliability import expect, fault, fresh_worker, running, wait_for_workers
from tests.support.data import insert_photo
from tests.support.images import photo_bytes
from tests.support.webhook_events import events_of, final_transitions

SECRET = "whsec-e2e-" + uuid.uuid4().hex
pytestmark = pytest.mark.usefixtures("ledger_audit")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(SECRET).up()
    yield server
    server.stop()


@pytest.fixture
def env(service_env: dict[str, str], receiver: WebhookReceiver, database: Database) -> dict[str, str]:
    """Workers that deliver to the receiver, retrying within a second or two."""
    # Events of earlier modules' photos (no receiver then) would only queue ahead of this test's.
    database.execute_sql("DELETE FROM webhook_events")
    return {
        **service_env,
        "WEBHOOK_URL": receiver.url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_TIMEOUT_S": "2",
        "WEBHOOK_MAX_BACKOFF_S": "1",
    }


def _batch(
    image_server: ImageServer, database: Database, good: int, bad: int, **serve: Any
) -> dict[str, str]:
    """`good` photos that complete and `bad` ones that fail (404, an HTML page), not yet queued;
    each photo's path on the image server."""
    tag = uuid.uuid4().hex[:8]
    paths = {}
    for n in range(good):
        path = f"/wh-{tag}-{n}.jpg"
        url = image_server.image(path, photo_bytes(400 + n, 300), **serve)
        paths[expect(insert_photo(database, url), "completed")] = path
    for n in range(bad):
        path = f"/wh-{tag}-bad-{n}.html" if n % 2 else f"/wh-{tag}-missing-{n}.jpg"
        if n % 2:
            url = image_server.serve(path, Reply(body=b"<html></html>", content_type="text/html"))
        else:
            url = image_server.url(path)  # nothing served there yet: 404
        paths[expect(insert_photo(database, url), "failed")] = path
    return paths


def _failed_by_hand(database: Database, count: int) -> list[str]:
    """`count` photos failed by a hand-run UPDATE: more events than the 4 sender threads."""
    photo_ids = [insert_photo(database) for _ in range(count)]
    database.execute_sql(
        "UPDATE photos SET status = 'failed', failure_reason = 'by hand' WHERE uuid = ANY(%s::uuid[])",
        (photo_ids,),
    )
    return photo_ids


def _queue(actors_package: Any, photo_ids: list[str]) -> None:
    for photo_id in photo_ids:
        actors_package.process_photo.send(photo_id)


def _all_final(database: Database, photo_ids: list[str], timeout: float = 120) -> dict[str, str]:
    def final() -> dict[str, str] | None:
        found = final_transitions(database, photo_ids)
        return found if len(found) == len(photo_ids) else None

    return wait_until(final, timeout=timeout, message="every photo completed or failed")


def _assert_every_event_delivered_once_verified(
    database: Database, receiver: WebhookReceiver, photo_ids: list[str], timeout: float = 120
) -> None:
    """Each photo has one event per final state it reached, each delivered (verified); the
    receiver got nothing for these photos but those events (repeats only of the same id)."""
    final = _all_final(database, photo_ids)
    events = {photo_id: events_of(database, photo_id) for photo_id in photo_ids}
    for photo_id, status in final.items():
        assert events[photo_id], f"no event for {photo_id}"
        assert events[photo_id][-1]["type"] == f"photo.{status}"
    wanted = {event["id"]: event for found in events.values() for event in found}

    wait_until(
        lambda: set(wanted) <= set(receiver.delivered()),
        timeout=timeout,
        message=f"{len(wanted)} events delivered",
    )
    delivered = receiver.delivered()
    for event_id, event in wanted.items():
        copies = delivered[event_id]
        assert all(copy.verified for copy in copies)
        assert {copy.event["id"] for copy in copies} == {event_id}, "a repeat is the same event"
        body = copies[0].event
        assert (body["type"], body["photo"]["uuid"]) == (event["type"], event["payload"]["uuid"])
        if body["type"] == "photo.completed":
            [thumbnail] = body["photo"]["thumbnails"]
            assert thumbnail["href"] == f"/thumbs/{thumbnail['url']}"
        else:
            assert body["photo"]["failure_reason"]
    ours = {str(p) for p in photo_ids}
    for delivery in receiver.deliveries():
        if delivery.event.get("photo", {}).get("uuid") in ours:
            assert delivery.event_id in wanted, "an event for a final state the database never saw"
    wait_until(
        lambda: all(row["state"] == "delivered" for p in photo_ids for row in events_of(database, p)),
        timeout=30,
        message="every event recorded as delivered",
    )


def test_every_photo_of_a_batch_produces_one_verified_event_per_final_state(
    env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    receiver: WebhookReceiver,
) -> None:
    paths = _batch(image_server, database, good=8, bad=4)
    photo_ids = list(paths)
    with running(fresh_worker(env, log_dir, threads=2)):
        _queue(actors_package, photo_ids)
        _assert_every_event_delivered_once_verified(database, receiver, photo_ids)

        # A missing source appears and its photo is posted again: a second final state, a
        # second event, delivered like the first.
        [again] = [p for p, path in paths.items() if "missing" in path][:1]
        image_server.image(paths[again], photo_bytes(640, 480))
        with database.connection_context():
            process_requests.start_request(database, [again])
        _queue(actors_package, [expect(again, "completed")])
        wait_until(lambda: len(events_of(database, again)) == 2, timeout=60, message="a second event")
        assert [e["type"] for e in events_of(database, again)] == ["photo.failed", "photo.completed"]
        _assert_every_event_delivered_once_verified(database, receiver, photo_ids)


def test_events_of_a_batch_processed_while_the_receiver_is_down_are_all_delivered_once_it_is_back(
    env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    receiver: WebhookReceiver,
) -> None:
    photo_ids = list(_batch(image_server, database, good=6, bad=2))
    with running(fresh_worker(env, log_dir)):
        receiver.down()
        fault("webhook receiver down")
        _queue(actors_package, photo_ids)
        _all_final(database, photo_ids)
        wait_until(
            lambda: all(
                row["attempts"] >= 2 and row["last_error"]
                for p in photo_ids
                for row in events_of(database, p)
            ),
            timeout=60,
            message="every event tried at least twice against the closed port",
        )
        assert receiver.delivered() == {}

        receiver.up()
        _assert_every_event_delivered_once_verified(database, receiver, photo_ids)


def test_a_worker_killed_mid_batch_loses_no_event(
    env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    receiver: WebhookReceiver,
) -> None:
    # Sources a little slow, so the kill finds photos in flight; the receiver hangs, and events
    # failed by hand hold every sender thread first, so it finds deliveries in flight too
    # (claimed, leased, unanswered).
    hung = _failed_by_hand(database, 6)
    photo_ids = list(_batch(image_server, database, good=12, bad=2, delay_s=0.5))
    receiver.set_mode("hang")
    with running(fresh_worker(env, log_dir, threads=2)) as worker:
        [victim] = wait_for_workers(worker)
        wait_until(lambda: len(receiver.deliveries()) >= 4, timeout=60, message="every sender thread held")
        _queue(actors_package, photo_ids)
        wait_until(
            lambda: len(final_transitions(database, photo_ids)) >= 3, timeout=60, message="some photos final"
        )
        assert len(final_transitions(database, photo_ids)) < len(photo_ids), "the kill must come mid-batch"

        os.kill(victim, signal.SIGKILL)
        fault("worker SIGKILL mid-batch, deliveries in flight")
        receiver.set_mode("accept")

        # bin/supervise starts it again; the new worker finishes the batch and sends every event.
        wait_until(
            lambda: (pids := proc_tree.dramatiq_workers(worker.pid)) and victim not in pids,
            timeout=30,
            message="a new worker process",
        )
        _assert_every_event_delivered_once_verified(database, receiver, [*hung, *photo_ids])


def test_a_receiver_that_never_answers_does_not_stop_thumbnailing(
    env: dict[str, str],
    log_dir: Path,
    database: Database,
    image_server: ImageServer,
    actors_package: Any,
    receiver: WebhookReceiver,
) -> None:
    """Every sender thread is held by the receiver (until its deadline, then again) before the
    batch starts; the photo threads go on. (How fast is measured in the benchmark, not here.)"""
    hung = _failed_by_hand(database, 6)
    photo_ids = list(_batch(image_server, database, good=12, bad=2))
    receiver.set_mode("hang")
    with running(fresh_worker(env, log_dir)):
        wait_until(lambda: len(receiver.deliveries()) >= 4, timeout=60, message="every sender thread held")
        _queue(actors_package, photo_ids)
        _all_final(database, photo_ids)
        assert receiver.delivered() == {}

        receiver.set_mode("accept")
        _assert_every_event_delivered_once_verified(database, receiver, [*hung, *photo_ids])


def test_an_event_refused_past_its_give_up_time_is_dead_with_its_last_error_and_metered(
    env: dict[str, str],
    log_dir: Path,
    database: Database,
    receiver: WebhookReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A hand-run UPDATE fails the photo: the trigger writes its event like any other path."""
    metrics_port = free_port()
    metered = {
        **env,
        "WEBHOOK_GIVE_UP_AFTER_S": "3",
        "WORKER_METRICS_PORT": str(metrics_port),
        "dramatiq_prom_db": str(tmp_path_factory.mktemp("webhook-metrics")),
    }
    receiver.set_mode("refuse")
    with running(fresh_worker(metered, log_dir)):
        photo_id = insert_photo(database)
        database.execute_sql(
            "UPDATE photos SET status = 'failed', failure_reason = 'by hand' WHERE uuid = %s", (photo_id,)
        )
        [event] = wait_until(
            lambda: [e for e in events_of(database, photo_id) if e["state"] == "dead"],
            timeout=60,
            message="the event dead",
        )
        receiver.set_mode("accept")
        other = insert_photo(database)
        database.execute_sql("UPDATE photos SET status = 'completed' WHERE uuid = %s", (other,))
        [delivered] = wait_until(
            lambda: _states(database, other) == ["delivered"] and events_of(database, other)
        )

        counts = wait_until(
            lambda: (found := _webhook_metrics(metrics_port)).get("delivered") and found,
            timeout=30,
            message="the worker's webhook metrics",
        )
    assert counts["dead"] == 1
    assert counts["failed"] == event["attempts"] - 1 >= 1, "each attempt counted once: failed, or dead"
    assert counts["delivered"] == 1
    assert event["last_error"] == "HTTP 500: refused by the test receiver"
    tried = [d for d in receiver.deliveries() if d.event_id == event["id"]]
    assert len(tried) == event["attempts"]
    assert all(d.verified for d in tried)
    assert delivered["id"] in receiver.delivered()


def _states(database: Database, photo_id: str) -> list[str]:
    return [event["state"] for event in events_of(database, photo_id)]


def _webhook_metrics(port: int) -> dict[str, float]:
    """photo_processor_webhook_deliveries_total by outcome, as the worker serves it."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "photo_processor_webhook_deliveries_total"
    }


def test_a_receiver_on_a_private_address_is_refused_like_a_source(
    env: dict[str, str], log_dir: Path, database: Database, receiver: WebhookReceiver
) -> None:
    with running(
        fresh_worker({**env, "ALLOW_PRIVATE_SOURCES": "0", "WEBHOOK_GIVE_UP_AFTER_S": "2"}, log_dir)
    ):
        photo_id = insert_photo(database)
        database.execute_sql("UPDATE photos SET status = 'failed' WHERE uuid = %s", (photo_id,))
        [event] = wait_until(
            lambda: [e for e in events_of(database, photo_id) if e["state"] == "dead"],
            timeout=60,
            message="the event dead",
        )
    assert "127.0.0.1 is loopback and refused" in event["last_error"]
    assert receiver.deliveries() == []


def test_sigterm_under_honcho_stops_a_worker_whose_deliveries_hang_and_their_events_go_out_later(
    env: dict[str, str], start_honcho: Honcho, log_dir: Path, database: Database, receiver: WebhookReceiver
) -> None:
    """honcho SIGKILLs what has not stopped 5 s after its SIGTERM; a delivery may take 8 s here.
    The stopping worker leaves it (the sender threads never hold the process), and the next worker
    sends its event once its lease has run out: under honcho the worker process gets SIGTERM twice
    (honcho signals the process group, and Dramatiq's master passes its own on), and Dramatiq
    takes the second as "kill", so the dispatcher's release at stop does not run here."""
    honcho, _api = start_honcho(env, WEBHOOK_TIMEOUT_S="8")
    receiver.set_mode("hang")
    with running(honcho.start()):
        wait_for_workers(honcho, timeout=60)
        photo_id = insert_photo(database)
        database.execute_sql("UPDATE photos SET status = 'failed' WHERE uuid = %s", (photo_id,))
        wait_until(receiver.deliveries, timeout=60, message="a delivery in flight")
        below = proc_tree.descendants(honcho.pid)

        honcho.signal(signal.SIGTERM)
        assert honcho.proc is not None
        honcho.proc.wait(timeout=60)
        assert "sending SIGKILL" not in honcho.logs(), "honcho had to kill what did not stop in 5 s"
        assert not any(map(proc_tree.alive, below))

    [event] = events_of(database, photo_id)
    assert event["state"] == "pending"
    receiver.set_mode("accept")
    with running(fresh_worker(env, log_dir)):
        wait_until(
            lambda: event["id"] in receiver.delivered(), timeout=90, message="delivered by the next worker"
        )
