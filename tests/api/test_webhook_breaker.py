"""The delivery loop against a receiver that refuses connections, with many events due: the
breaker bounds the attempts, and the events it never claimed gain none (webhooks/breaker.py)."""

from __future__ import annotations

import dataclasses
import logging
import uuid

import pytest
from peewee import Database

from config import Config
from harness.polling import wait_until
from harness.webhook_receiver import WebhookReceiver
from webhooks.breaker import FAILURES_TO_OPEN
from webhooks.dispatcher import WebhookDispatcher

EVENTS = 200
CONCURRENCY = 4


def test_a_refusing_receiver_gets_a_bounded_number_of_attempts(
    config: Config, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    database.execute_sql("DELETE FROM webhook_events")
    database.execute_sql(
        "INSERT INTO photos (url, status, failure_reason)"
        " SELECT 'http://127.0.0.1:9/' || n || '.jpg', 'failed', 'http_404: gone' FROM generate_series(1, %s) n",
        (EVENTS,),
    )
    receiver = WebhookReceiver("whsec-" + uuid.uuid4().hex)
    receiver.down()  # never up: connections to its port are refused
    settings = dataclasses.replace(
        config,
        webhook_url=receiver.url,
        webhook_secret=receiver.secret,
        webhook_concurrency=CONCURRENCY,
        allow_private_sources=True,
    )
    outcomes: list[str] = []
    dispatcher = WebhookDispatcher(settings, database, on_outcome=outcomes.append)
    caplog.set_level(logging.WARNING, logger="webhooks.breaker")
    dispatcher.start()
    try:
        # The window: until the second probe has failed (pauses of 1 s, then 2 s, now 4 s). Without
        # the breaker the loop tries hundreds of events a second for all that time.
        wait_until(
            lambda: any("pause for 4 s" in record.getMessage() for record in caplog.records),
            message="the breaker's third pause",
        )
    finally:
        dispatcher.stop()

    tried, attempts = database.execute_sql(
        "SELECT count(*) FILTER (WHERE attempts > 0), coalesce(sum(attempts), 0) FROM webhook_events"
    ).fetchone()
    bound = FAILURES_TO_OPEN + CONCURRENCY + 2  # to open it (and those in flight then), two probes
    assert attempts == tried, "each event tried at most once: the events never claimed gain nothing"
    assert FAILURES_TO_OPEN + 2 <= attempts <= bound
    assert len(outcomes) <= 2 * bound
