"""End-to-end: gunicorn serving the API, the Dramatiq worker, RabbitMQ and PostgreSQL, all real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peewee import Database

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import BIN, ServiceProcess, free_port, running, start_api, start_worker
from tests.e2e import reliability
from tests.support.data import status_of


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def api(service_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The API under gunicorn, as the Procfile runs it; yields its base URL."""
    process, base_url = start_api(service_env, log_dir)
    with running(process):
        yield base_url


@pytest.fixture(scope="module")
def worker(service_env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    """One supervised worker: 1 process, 1 thread, as the Procfile runs it."""
    with running(start_worker(service_env, log_dir)) as process:
        yield process


Honcho = Callable[..., tuple[ServiceProcess, str]]


@pytest.fixture
def start_honcho(log_dir: Path) -> Honcho:
    """`make start` as it runs: `honcho start` over the Procfile, here with one API process of two
    threads and `settings` over `env`; `--env /dev/null`, so that a developer's .env overrides
    nothing. Makes the process (not started yet) and says the API's base URL."""

    def make(env: dict[str, str], **settings: str) -> tuple[ServiceProcess, str]:
        port = free_port()
        process = ServiceProcess(
            "honcho",
            [str(BIN / "honcho"), "start", "--port", str(port), "--env", "/dev/null"],
            {**env, "HOST": "127.0.0.1", "WEB_WORKERS": "1", "WEB_THREADS": "2", **settings},
            log_dir,
        )
        return process, f"http://127.0.0.1:{port}"

    return make


@pytest.fixture
def held_env(service_env: dict[str, str]) -> dict[str, str]:
    """The run's worker settings, under which a held download stays in flight (no read timeout)."""
    return {**service_env, "DOWNLOAD_TIMEOUT_S": "60"}


@pytest.fixture(scope="module")
def ledger_audit(
    request: pytest.FixtureRequest, database: Database, image_server: ImageServer
) -> Iterator[None]:
    """At the end of a fault module: no followed photo lost, stuck or doubled (`reliability.audit`)."""
    yield
    reliability.audit(database, request.module.__name__, image_server)


def wait_for_status(database: Database, photo_id: str, *statuses: str, timeout: float = 60) -> str:
    """Poll until the photo reaches one of `statuses`; return it."""
    return wait_until(
        lambda: (status := status_of(database, photo_id)) in statuses and status,
        timeout=timeout,
        message=f"photo {photo_id} in {statuses}",
    )
