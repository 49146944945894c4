"""Fixtures shared by the test tiers: this run's database and vhost, its settings, an image server.

Tiers: tests/unit (pure functions, no services), tests/api (the Falcon app in-process on the real
database and broker), tests/e2e (gunicorn, RabbitMQ and a real worker process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from config import Config, load_config
from harness import services as test_services
from harness.hosts import Lan, running_lan
from harness.imageserver import ImageServer
from harness.leftovers import leftovers
from harness.queue import QueueProbe
from harness.s3server import S3Server
from harness.service_processes import RUNNING
from models import init_db
from schema import migrations


@pytest.fixture(scope="session")
def services() -> Iterator[test_services.RunServices]:
    """This run's own database (migrated) and RabbitMQ vhost, dropped at the end."""
    made = test_services.create()
    try:
        migrations.migrate({"dsn": made.pg_uri})
        yield made
    finally:
        test_services.drop(made)


@pytest.fixture(scope="session")
def thumbs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("thumbs")


@pytest.fixture(scope="session")
def service_env(
    services: test_services.RunServices, thumbs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment the API and the worker run with in tests."""
    return {
        # Workers of several tests may run at once: no fixed metrics port, no shared metrics files.
        "WORKER_METRICS_PORT": "0",
        "dramatiq_prom_db": str(tmp_path_factory.mktemp("worker-metrics")),
        "PG_CONNECTION_URI": services.pg_uri,
        "AMQP_URI": services.amqp_uri,
        "THUMBS_DIR": str(thumbs_dir),
        "ALLOW_PRIVATE_SOURCES": "1",
        "RETRY_MAX": "3",
        "RETRY_MIN_BACKOFF_MS": "200",
        "RETRY_MAX_BACKOFF_MS": "1000",
        "DOWNLOAD_TIMEOUT_S": "5",
        "LOG_FORMAT": "text",
        # Every test's sources share one image server, one host to the breaker, whose failures
        # would add up across tests (and fail-on-purpose sources fail a lot): the breaker stays
        # shut unless a test is about it (tests/e2e/test_polite_downloads.py sets its own).
        "HOST_BREAKER_FAILURES": "1000000",
    }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server on 127.0.0.1 (rclone), for the tests of the bucket store."""
    server = S3Server(tmp_path_factory.mktemp("s3-data"), tmp_path_factory.mktemp("s3-logs")).start()
    yield server
    server.stop()


@pytest.fixture
def bucket_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new empty bucket on the S3 server, as the settings that select it; set in this process's
    environment too (boto3 reads it there) for the length of the test."""
    env = {**s3_server.env, "THUMBS_BUCKET": s3_server.new_bucket()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    """A loopback HTTP server the tests load with images and canned failures."""
    server = ImageServer().start()
    yield server
    server.stop()


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Lan]:
    """Host namespaces on a LAN of the test's own (harness/hosts.py), removed after it, failed or
    not; the teardown checks that nothing of it is left."""
    with running_lan(tmp_path) as made:
        yield made
    assert leftovers(made.run_id) == []


@pytest.fixture(scope="session")
def actors_package(service_env: dict[str, str]) -> Any:
    """The `actors` package, imported with this run's settings (it builds its broker at import)."""
    if "actors" in sys.modules:
        raise RuntimeError("`actors` was imported before the test settings were in place")
    os.environ.update(service_env)
    import actors

    return actors


@pytest.fixture(scope="session")
def config(service_env: dict[str, str]) -> Config:
    return load_config(service_env)


@pytest.fixture(scope="session")
def database(config: Config) -> Database:
    return init_db(config)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, for fixtures that act on a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test requesting a fixture failed (read in the fixture's teardown)."""
    report = getattr(request.node, "report_call", None)
    return report is not None and bool(report.failed)


@pytest.fixture(autouse=True)
def show_process_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """On failure, the end of what every running API and worker logged."""
    yield
    if failed(request):
        for process in RUNNING:
            print(f"\n----- {process.name} ({process.log_path}) -----\n{process.logs()[-6000:]}")


@pytest.fixture
def queue(service_env: dict[str, str]) -> Iterator[QueueProbe]:
    """The photo-processor queue of this run's vhost, purged before and after the test."""
    probe = QueueProbe(service_env["AMQP_URI"])
    probe.purge()
    yield probe
    probe.purge()
    probe.close()
