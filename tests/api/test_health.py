"""GET /healthz: 200 when the database and the broker answer, 503 naming the part that does not."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

import falcon.testing
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from peewee import Database
from playhouse.pool import PooledPostgresqlDatabase

from api.app import create_app
from api.checks import broker_check, database_check
from config import Config
from models import connect_options
from publishing import one_at_a_time

NOBODY = "127.0.0.1:9"  # the discard port: nothing listens there
MISSING_DB = "photo_processor_no_such_database"


def test_healthz_is_200_when_database_and_broker_answer(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/healthz")
    assert result.status_code == 200
    assert result.json == {"status": "up", "database": {"status": "up"}, "broker": {"status": "up"}}


def test_healthz_is_503_and_names_the_broker_when_rabbitmq_cannot_be_reached(
    config: Config, database: Database
) -> None:
    broker = RabbitmqBroker(url=f"amqp://guest:guest@{NOBODY}/%2F?connection_attempts=1&socket_timeout=2")
    app = create_app(
        config,
        db=database,
        publish=one_at_a_time(print),
        health_checks={
            "database": functools.partial(database_check, database),
            "broker": functools.partial(broker_check, broker, "photo-processor"),
        },
    )
    result = falcon.testing.TestClient(app).simulate_get("/healthz")
    assert result.status_code == 503
    assert result.json["status"] == "down"
    assert result.json["broker"]["status"] == "down"
    assert result.json["database"] == {"status": "up"}
    assert result.json["broker"] == {"status": "down"}


def test_healthz_is_503_and_names_the_database_when_postgresql_cannot_be_reached(
    config: Config, actors_package: object
) -> None:
    unreachable = replace(config, pg_connection_uri=f"postgresql://postgres@{NOBODY}/none")
    offline = PooledPostgresqlDatabase(None)
    offline.init(**connect_options(unreachable))
    app = create_app(
        unreachable,
        db=offline,
        publish=one_at_a_time(print),
        health_checks={
            "database": functools.partial(database_check, offline),
            "broker": functools.partial(broker_check, actors_package.broker, "photo-processor"),  # type: ignore[attr-defined]
        },
    )
    result = falcon.testing.TestClient(app).simulate_get("/healthz")
    assert result.status_code == 503
    assert result.json["database"]["status"] == "down"
    assert result.json["broker"] == {"status": "up"}
    assert result.json["database"] == {"status": "down"}


def test_healthz_says_only_down_and_logs_the_drivers_error(
    config: Config, actors_package: object, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that answers, with a database it does not have: the driver's error names both.
    missing = replace(config, pg_connection_uri=f"{config.pg_connection_uri.rsplit('/', 1)[0]}/{MISSING_DB}")
    wrong = PooledPostgresqlDatabase(None)
    wrong.init(**connect_options(missing))
    app = create_app(
        missing,
        db=wrong,
        publish=one_at_a_time(print),
        health_checks={
            "database": functools.partial(database_check, wrong),
            "broker": functools.partial(broker_check, actors_package.broker, "photo-processor"),  # type: ignore[attr-defined]
        },
    )
    with caplog.at_level(logging.WARNING, logger="api.resources.health"):
        result = falcon.testing.TestClient(app).simulate_get("/healthz")
    assert result.status_code == 503
    assert result.json == {"status": "down", "database": {"status": "down"}, "broker": {"status": "up"}}
    for detail in (MISSING_DB, "does not exist", "127.0.0.1", "5432", "Error"):
        assert detail not in result.text, detail
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f'database "{MISSING_DB}" does not exist' in logged
