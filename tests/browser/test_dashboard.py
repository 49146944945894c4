"""The dashboard at GET /, in headless Chromium, against gunicorn, RabbitMQ and a real worker."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from peewee import Database
from playwright.sync_api import Page, Route, expect

from harness.imageserver import ImageServer
from harness.service_processes import ServiceProcess
from tests.browser.conftest import ARTIFACTS, TOKEN
from tests.support.data import insert_photo
from tests.support.images import photo_bytes

pytestmark = pytest.mark.browser

DONE_TIMEOUT_MS = 60_000  # processing a few small photos takes seconds; this is the far bound


def _card(page: Page, photo_id: str) -> str:
    return f'.card[data-uuid="{photo_id}"]'


def _wait_for_thumbnail(page: Page, photo_id: str) -> str:
    """Wait until the card's <img> has loaded a real image; return its src."""
    selector = f"{_card(page, photo_id)} img.thumb"
    page.wait_for_function(
        "s => { const img = document.querySelector(s);"
        " return !!img && !img.hidden && img.complete && img.naturalWidth > 0; }",
        arg=selector,
        timeout=DONE_TIMEOUT_MS,
    )
    return str(page.locator(selector).get_attribute("src"))


def _photos(database: Database, image_server: ImageServer, sizes: list[tuple[int, int]]) -> list[str]:
    return [
        insert_photo(database, image_server.image(f"/{uuid.uuid4()}.jpg", photo_bytes(width, height)))
        for width, height in sizes
    ]


def test_the_page_and_its_files_are_served_without_the_token_and_revalidated(
    api: str, locked_api: str
) -> None:
    for base in (api, locked_api):
        page = requests.get(f"{base}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Cache-Control"] == "no-cache"
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        for name, media_type in (("app.js", "text/javascript"), ("style.css", "text/css")):
            file = requests.get(f"{base}/static/{name}", timeout=10)
            assert file.status_code == 200
            assert file.headers["Content-Type"].startswith(media_type)
            again = requests.get(
                f"{base}/static/{name}", headers={"If-None-Match": file.headers["ETag"]}, timeout=10
            )
            assert again.status_code == 304
        for name in ("nothing.js", "index.html", "..%2Fapp.py", ".hidden.css"):
            assert requests.get(f"{base}/static/{name}", timeout=10).status_code == 404
    assert requests.get(f"{locked_api}/stats", timeout=10).status_code == 401


def test_selected_photos_are_processed_and_shown_completed_with_thumbnails(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    good = _photos(database, image_server, [(1200, 800), (600, 900), (800, 800)])
    missing = insert_photo(database, image_server.url(f"/missing-{uuid.uuid4()}.jpg"))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{api}/")
    expect(page.locator("#count-pending")).to_have_text("4")
    expect(page.locator("#count-total")).to_have_text("4")
    expect(page.locator("#count-completed")).to_have_text("0")
    expect(page.locator(".card")).to_have_count(4)
    expect(page.locator(f"{_card(page, missing)} .badge")).to_have_text("○ Pending")

    for photo_id in [*good, missing]:
        page.locator(f"{_card(page, photo_id)} input.select").check()
    expect(page.locator("#process-selected")).to_have_text("Process selected (4)")
    page.locator("#process-selected").click()

    expect(page.locator("#notice")).to_have_text("Queued 4 photo(s).")
    expect(page.locator("#batch")).to_be_visible()
    expect(page.locator("#batch-text")).to_have_text("4 of 4 done — finished", timeout=DONE_TIMEOUT_MS)
    for photo_id in good:
        expect(page.locator(_card(page, photo_id))).to_have_attribute("data-status", "completed")
        expect(page.locator(f"{_card(page, photo_id)} .badge")).to_have_text("✓ Completed")
        assert _wait_for_thumbnail(page, photo_id).startswith("/thumbs/")
    failed = page.locator(_card(page, missing))
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.locator(".badge")).to_have_text("✕ Failed")
    expect(failed.locator(".reason")).to_contain_text("404")
    expect(failed.locator("img.thumb")).to_be_hidden()
    expect(page.locator("#count-completed")).to_have_text("3")
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.locator("#count-pending")).to_have_text("0")

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.stat().st_size > 10_000
    # Everything the page loaded came from the API's own origin: no CDN, no fonts, no trackers.
    assert [url for url in requested if not url.startswith((f"{api}/", "blob:", "data:"))] == []


def test_retrying_failed_photos_follows_them_until_they_fail_again(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    path = f"/held-{uuid.uuid4()}.jpg"
    photo_id = insert_photo(database, image_server.url(path), status="failed")
    gate = image_server.hold(path)  # the worker's download waits here: the photo stays processing
    page.goto(f"{api}/")
    expect(page.locator("#count-failed")).to_have_text("1")

    page.locator("#retry-failed").click()

    # Still "failed" until the worker claims it, then processing: neither is done.
    expect(page.locator(_card(page, photo_id))).to_have_attribute("data-status", "processing")
    expect(page.locator("#batch-text")).to_have_text("0 of 1 done")
    gate.set()  # nothing is served there: it fails again, with 404
    expect(page.locator("#batch-text")).to_have_text("1 of 1 done — finished", timeout=DONE_TIMEOUT_MS)
    expect(page.locator(f"{_card(page, photo_id)} .reason")).to_contain_text("404")


def test_with_api_token_the_page_asks_for_it_then_works_thumbnails_included(
    locked_api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    # More than the dashboard follows one by one: it tracks this batch by reading the lists.
    photo_ids = _photos(database, image_server, [(400 + 10 * i, 300) for i in range(22)])
    page.goto(f"{locked_api}/")
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#count-total")).to_have_text("\u2013")  # an en dash: no counts yet

    page.locator("#token-input").fill("not-the-token")
    page.locator("#token-form button[type=submit]").click()
    expect(page.locator("#token-error")).to_be_visible()

    page.locator("#token-input").fill(TOKEN)
    page.locator("#token-form button[type=submit]").click()
    expect(page.locator("#token-form")).to_be_hidden()
    expect(page.locator("#count-pending")).to_have_text("22")

    page.locator("#process-pending").click()
    expect(page.locator("#batch-text")).to_have_text("22 of 22 done — finished", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("#count-completed")).to_have_text("22")
    for photo_id in photo_ids:
        # <img> cannot send the header: the page fetched each file with it and shows a blob: URL.
        assert _wait_for_thumbnail(page, photo_id).startswith("blob:")

    page.reload()  # the token is kept for the tab's life (sessionStorage)
    expect(page.locator("#count-completed")).to_have_text("22")
    expect(page.locator("#token-form")).to_be_hidden()


def test_paging_and_filtering(api: str, database: Database, page: Page) -> None:
    pending = [insert_photo(database, f"http://photos.example/{i}.jpg") for i in range(30)]
    failed = [insert_photo(database, "http://photos.example/gone.jpg", status="failed") for _ in range(2)]
    page.goto(f"{api}/")
    page.locator("#page-size").select_option("24")
    expect(page.locator(".card")).to_have_count(24)
    expect(page.locator(".card").first).to_have_attribute("data-uuid", pending[0])
    expect(page.locator(".card .host").first).to_have_text("photos.example")

    page.locator("#next").click()
    expect(page.locator(".card")).to_have_count(8)
    expect(page.locator("#page-label")).to_have_text("Page 2")
    expect(page.locator("#next")).to_be_disabled()
    page.locator("#prev").click()
    expect(page.locator(".card")).to_have_count(24)
    expect(page.locator("#prev")).to_be_disabled()

    page.locator("[data-filter=failed]").click()
    expect(page.locator(".card")).to_have_count(2)
    expect(page.locator(".card .badge")).to_have_text(["✕ Failed", "✕ Failed"])
    assert {page.locator(".card").nth(i).get_attribute("data-uuid") for i in range(2)} == set(failed)


def test_an_api_error_is_shown_in_a_banner(api: str, database: Database, page: Page) -> None:
    photo_ids = [insert_photo(database) for _ in range(2)]

    def broker_failed_part_way(route: Route) -> None:
        route.fulfill(
            status=503,
            json={
                "title": "Message broker unavailable",
                "description": "RabbitMQ failed part-way.",
                "queued": photo_ids[:1],
                "not_queued": photo_ids[1:],
            },
        )

    page.route(re.compile(r".*/photos/process$"), broker_failed_part_way)
    page.goto(f"{api}/")
    expect(page.locator(".card")).to_have_count(2)
    page.locator("#select-page").check()
    page.locator("#process-selected").click()

    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Message broker unavailable")
    expect(banner).to_contain_text("1 photo(s) were queued, 1 were not")
    expect(page.locator("#batch-text")).to_have_text("0 of 1 done")
    page.locator("#banner-close").click()
    expect(banner).to_be_hidden()
