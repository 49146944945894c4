"""The API in-process (Falcon's TestClient) on this run's real database and RabbitMQ vhost."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from peewee import Database

from api.app import create_app
from api.checks import broker_check, database_check
from config import Config
from harness.queue import QUEUE
from publishing import ConfirmedPublisher


@pytest.fixture
def publisher(config: Config, actors_package: Any) -> Iterator[ConfirmedPublisher]:
    """Sends through the actor, a batch at a time with confirms; its kept connections closed after."""
    publisher = ConfirmedPublisher(actors_package.process_photo, config.amqp_url)
    yield publisher
    publisher.close()


@pytest.fixture
def client(
    config: Config, database: Database, actors_package: Any, publisher: ConfirmedPublisher
) -> falcon.testing.TestClient:
    app = create_app(
        config,
        db=database,
        publish=publisher,
        health_checks={
            "database": functools.partial(database_check, database),
            "broker": functools.partial(broker_check, actors_package.broker, QUEUE),
        },
    )
    return falcon.testing.TestClient(app)


@pytest.fixture(autouse=True)
def empty_tables(database: Database) -> Iterator[None]:
    database.execute_sql("TRUNCATE photos CASCADE")
    yield
    database.close()
