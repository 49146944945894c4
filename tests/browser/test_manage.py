"""Adding photos by URL and deleting one, from the dashboard, in headless Chromium, against
gunicorn, RabbitMQ and a real worker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from peewee import Database
from playwright.sync_api import Dialog, Page, expect

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import ServiceProcess
from tests.browser.conftest import ARTIFACTS
from tests.e2e.reliability import lock_held
from tests.support.images import photo_bytes

pytestmark = pytest.mark.browser

DONE_TIMEOUT_MS = 60_000


def _count(database: Database) -> int:
    return int(database.execute_sql("SELECT count(*) FROM photos").fetchone()[0])


def _status(database: Database, photo_id: str) -> str:
    return str(database.execute_sql("SELECT status FROM photos WHERE uuid = %s", (photo_id,)).fetchone()[0])


def _image(image_server: ImageServer) -> str:
    return image_server.image(f"/manage-{uuid.uuid4()}.jpg", photo_bytes(300, 200))


def _add(page: Page, text: str, *, process: bool = False) -> None:
    page.locator("#add-urls").fill(text)
    page.locator("#add-process").set_checked(process)
    page.locator("#add-submit").click()


def test_bad_lines_are_shown_by_line_number_and_nothing_is_added(
    api: str, database: Database, page: Page
) -> None:
    page.goto(f"{api}/")
    expect(page.locator("#count-total")).to_have_text("0")

    _add(page, "http://photos.example/1.jpg\nftp://photos.example/2.jpg\n\nnot a url\n")
    expect(page.locator("#add-errors li")).to_have_text(
        [
            "Line 2: not an http or https URL: ftp://photos.example/2.jpg",
            "Line 4: holds a space or a control character: not a url",
        ]
    )
    # The browser reads this one as http://x.jpg/; the API, which has the last word, does not.
    _add(page, "http://photos.example/1.jpg\nhttp:///x.jpg")
    expect(page.locator("#add-errors li")).to_have_text(['Line 2: the url has no host: "http:///x.jpg".'])
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#add-form").screenshot(path=ARTIFACTS / "dashboard-add-errors.png")
    _add(page, "\n  \n")
    expect(page.locator("#add-errors li")).to_have_text(["Paste one or more photo URLs, one per line."])
    assert _count(database) == 0
    expect(page.locator("#add-urls")).to_have_value("\n  \n")  # kept, to be corrected


def test_a_line_fixed_after_a_400_sends_only_the_part_it_is_in_again(
    api: str, database: Database, page: Page
) -> None:
    page.goto(f"{api}/")
    before = _count(database)
    good = [f"http://photos.example/{uuid.uuid4()}.jpg" for _ in range(1001)]
    # 1000 lines make the first request; line 1001, which only the API refuses, is in the second.
    _add(page, "\n".join([*good[:1000], "http:///x.jpg", good[1000]]))
    expect(page.locator("#add-errors li")).to_have_text(
        ['Line 1001: the url has no host: "http:///x.jpg".'], timeout=DONE_TIMEOUT_MS
    )
    assert _count(database) == before + 1000

    _add(page, "\n".join([*good[:1000], "http://photos.example/fixed.jpg", good[1000]]))

    expect(page.locator("#notice")).to_have_text("Added 2 photo(s).", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("#add-urls")).to_have_value("")
    assert _count(database) == before + 1002, "the first 1000 were not created twice"


def test_a_text_over_the_apis_3_mib_is_sent_in_parts_by_size(
    api: str, database: Database, page: Page
) -> None:
    page.goto(f"{api}/")
    before = _count(database)
    # 600 URLs of 2000 three-byte characters: 3.6 MB as JSON, under 1000 lines all the same.
    urls = [f"http://photos.example/{index:04d}" + "界" * 2000 for index in range(600)]

    _add(page, "\n".join(urls))

    expect(page.locator("#notice")).to_have_text("Added 600 photo(s).", timeout=DONE_TIMEOUT_MS)
    assert _count(database) == before + 600


def test_photos_added_with_process_now_are_created_queued_and_completed(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    urls = [_image(image_server), _image(image_server)]
    page.goto(f"{api}/")
    expect(page.locator("#count-total")).to_have_text("0")

    _add(page, "\n".join(urls) + "\n", process=True)

    expect(page.locator("#notice")).to_have_text("Added 2 photo(s), queued 2.")
    expect(page.locator("#add-urls")).to_have_value("")
    expect(page.locator("#add-errors")).to_be_hidden()
    expect(page.locator("#batch-text")).to_have_text("2 of 2 done — finished", timeout=DONE_TIMEOUT_MS)
    expect(page.locator("#count-completed")).to_have_text("2")
    expect(page.locator(".card .host")).to_have_text(["127.0.0.1:" + urls[0].split(":")[2].split("/")[0]] * 2)
    assert _count(database) == 2

    _add(page, urls[0])  # without "process now": added, pending
    expect(page.locator("#notice")).to_have_text("Added 1 photo(s).")
    expect(page.locator("#count-pending")).to_have_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard-add.png", full_page=True)


def test_a_photo_is_deleted_after_a_confirm_with_its_thumbnail(
    api: str,
    worker: ServiceProcess,
    database: Database,
    image_server: ImageServer,
    thumbs_dir: Path,
    page: Page,
) -> None:
    added = requests.post(f"{api}/photos?process=true", json=[{"url": _image(image_server)}], timeout=30)
    photo_id = added.json()["photos"][0]["uuid"]
    page.goto(f"{api}/")
    card = page.locator(f'.card[data-uuid="{photo_id}"]')
    expect(card).to_have_attribute("data-status", "completed", timeout=DONE_TIMEOUT_MS)
    # The worker lets go of the photo just after committing it.
    wait_until(lambda: not lock_held(database, photo_id), message="the worker let go of the photo")
    # One file per rendition, in the photo's own folder (docs/renditions.md).
    renditions = requests.get(f"{api}/photos/{photo_id}", timeout=10).json()["renditions"]
    files = sorted((thumbs_dir / photo_id[:2] / photo_id).iterdir())
    assert len(files) == len(renditions) > 1

    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    card.locator("button.delete").click()
    wait_until(lambda: asked, message="the confirm shown")
    assert photo_id in asked[0]
    expect(card).to_be_visible()
    assert all(file.is_file() for file in files)

    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("button.delete").click()
    expect(card).to_have_count(0)
    expect(page.locator("#notice")).to_have_text(f"Deleted photo {photo_id[:8]}.")
    expect(page.locator("#count-total")).to_have_text("0")
    assert _count(database) == 0
    assert not any(file.exists() for file in files)


def test_deleting_a_photo_a_worker_is_processing_shows_why_not(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    path = f"/manage-held-{uuid.uuid4()}.jpg"
    gate = image_server.hold(path)
    try:
        url = image_server.image(path, photo_bytes(300, 200))
        added = requests.post(f"{api}/photos?process=true", json=[{"url": url}], timeout=30)
        photo_id = added.json()["photos"][0]["uuid"]
        # The worker holds the photo, its claim committed, before the page loads: the first
        # fetch shows it 'processing'. The timeout is for a loaded machine all the same.
        wait_until(
            lambda: lock_held(database, photo_id) and _status(database, photo_id) == "processing",
            message="the worker holds the photo",
        )
        page.goto(f"{api}/")
        card = page.locator(f'.card[data-uuid="{photo_id}"]')
        expect(card).to_have_attribute("data-status", "processing", timeout=DONE_TIMEOUT_MS)
        page.once("dialog", lambda dialog: dialog.accept())
        card.locator("button.delete").click()
        expect(page.locator("#banner")).to_contain_text("Photo being processed")
        expect(card).to_be_visible()
    finally:
        gate.set()
    expect(card).to_have_attribute("data-status", "completed", timeout=DONE_TIMEOUT_MS)
    assert _count(database) == 1
