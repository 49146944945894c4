"""End-to-end: gunicorn serving the API, the Dramatiq worker, RabbitMQ and PostgreSQL, all real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from tests.support.data import status_of
from tests.support.polling import wait_until
from tests.support.processes import ServiceProcess, start_api, start_worker

# Every process the tests started, so a failing test can show what they logged.
RUNNING: list[ServiceProcess] = []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def show_process_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in RUNNING:
            print(f"\n----- {process.name} ({process.log_path}) -----\n{process.logs()[-6000:]}")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def api(service_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The API under gunicorn, as the Procfile runs it; yields its base URL."""
    process, base_url = start_api(service_env, log_dir)
    RUNNING.append(process)
    yield base_url
    process.stop()
    RUNNING.remove(process)


@pytest.fixture(scope="module")
def worker(service_env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    """One supervised worker: 1 process, 1 thread, as the Procfile runs it."""
    process = start_worker(service_env, log_dir)
    RUNNING.append(process)
    yield process
    process.stop()
    RUNNING.remove(process)


def wait_for_status(database: Database, photo_id: str, *statuses: str, timeout: float = 60) -> str:
    """Poll until the photo reaches one of `statuses`; return it."""
    return wait_until(
        lambda: (status := status_of(database, photo_id)) in statuses and status,
        timeout=timeout,
        message=f"photo {photo_id} in {statuses}",
    )
