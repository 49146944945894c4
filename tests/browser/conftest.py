"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against gunicorn and a
real worker (the pattern of tests/e2e). Chromium missing is an error, never a skip: `.ci/run`
installs it (`apt-get install chromium`; `playwright install` cannot download here).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from harness.service_processes import REPO, ServiceProcess, running, start_api, start_worker
from tests.conftest import failed

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# How long an action or an `expect` may wait for the page to get there. The dashboard polls
# /stats every 1.5-5 s, so a count can lag what the page shows elsewhere by a poll or two, and
# more on a loaded machine: Playwright's own default for `expect` (5 s) is a race, not a bound.
PAGE_TIMEOUT_MS = 30_000
# Where the screenshots go (git-ignored); the README points at test-artifacts/dashboard.png.
ARTIFACTS = REPO / "test-artifacts"
# As root, Chromium needs --no-sandbox. The others stop it reaching for Google's services, which
# this closed network refuses (and which a test has no business calling anyway).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "dashboard-test-token"


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


def _start_api(env: dict[str, str], log_dir: Path) -> Iterator[str]:
    log_dir.mkdir(exist_ok=True)
    process, base_url = start_api(env, log_dir)
    with running(process):
        yield base_url


@pytest.fixture(scope="module")
def api(service_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The API under gunicorn, open; yields its base URL."""
    yield from _start_api(service_env, log_dir / "open")


@pytest.fixture(scope="module")
def locked_api(service_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The API under gunicorn with API_TOKEN=TOKEN; yields its base URL."""
    yield from _start_api({**service_env, "API_TOKEN": TOKEN}, log_dir / "locked")


@pytest.fixture(scope="module")
def worker(service_env: dict[str, str], log_dir: Path) -> Iterator[ServiceProcess]:
    """One supervised worker, as the Procfile runs it."""
    with running(start_worker(service_env, log_dir)) as process:
        yield process


@pytest.fixture(autouse=True)
def empty_tables(database: Database) -> Iterator[None]:
    """The dashboard shows counts of the whole table: each test starts from an empty one."""
    database.execute_sql("TRUNCATE photos CASCADE")
    yield
    database.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(
            f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium (see .ci/run)"
        )
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (no storage, no cache) and page. An uncaught error in the page fails the
    test; a failed test leaves a screenshot of the page in test-artifacts/."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    if failed(request):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        path = ARTIFACTS / f"failed-{name}.png"
        page.screenshot(path=path, full_page=True)
        print(f"the page when the test failed: {path}")
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
