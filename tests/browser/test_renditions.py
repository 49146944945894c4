"""A completed photo's renditions in the dashboard (issue 19): the placeholder painted first, then a
<picture> of the renditions (or, with API_TOKEN, one of them fetched with the token), and the
details view. Headless Chromium against gunicorn, RabbitMQ and a real worker."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests
from peewee import Database
from PIL import Image
from playwright.sync_api import Page, Route, expect

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import ServiceProcess
from tests.browser.conftest import ARTIFACTS, TOKEN
from tests.support.data import insert_photo
from tests.support.images import photo_bytes

pytestmark = pytest.mark.browser

DONE_TIMEOUT_S = 60  # processing a small photo takes well under a second; this is the far bound
THUMBS = re.compile(r"/thumbs/")
# A card's image fits in 240 x 160 CSS px (CARD_BOX in app.js): the 320 x 213 `thumb` of a
# 1200 x 800 photo is shown at 240 x 160, so at devicePixelRatio 1 the browser takes `thumb`.
SHOWN = {"width": 240, "height": 160}
TIMES = "\u00d7"  # the multiplication sign: the page writes sizes as "320 <TIMES> 213"


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS R6"  # Model
    exif[0x0112] = 1  # Orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:34:56"  # DateTimeOriginal
    exif.get_ifd(0x8769)[0x9011] = "+02:00"  # OffsetTimeOriginal
    return exif.tobytes()


def _completed_photo(
    base: str, database: Database, image_server: ImageServer, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A 1200 x 800 JPEG with camera EXIF, processed by the worker; its GET /photos/{uuid}."""
    url = image_server.image(f"/renditions-{uuid.uuid4()}.jpg", photo_bytes(1200, 800, exif=_exif()))
    photo_id = insert_photo(database, url)
    queued = requests.post(f"{base}/photos/process", json=[photo_id], headers=headers, timeout=30)
    assert queued.status_code == 202, queued.text

    def completed() -> dict[str, Any] | None:
        photo: dict[str, Any] = requests.get(f"{base}/photos/{photo_id}", headers=headers, timeout=10).json()
        return photo if photo["status"] == "completed" else None

    photo = wait_until(completed, timeout=DONE_TIMEOUT_S, message="the photo completed")
    assert photo is not None
    assert {r["format"] for r in photo["renditions"]} == {"jpeg", "webp"}, "the default RENDITION_FORMATS"
    assert photo["placeholder"]["thumbhash"]
    assert photo["placeholder"]["color"]
    return photo


def _hrefs(photo: dict[str, Any], fmt: str) -> list[str]:
    return [r["href"] for r in photo["renditions"] if r["format"] == fmt]


def _image(page: Page, selector: str) -> dict[str, Any]:
    """What the page shows in the <img> at `selector`: its load, source, placeholder and box."""
    shown: dict[str, Any] = page.eval_on_selector(
        selector,
        """img => {
            const box = img.getBoundingClientRect();
            const style = getComputedStyle(img);
            return {
                loaded: img.complete && img.naturalWidth > 0, currentSrc: img.currentSrc,
                src: img.getAttribute('src'), href: img.dataset.href || null,
                width: box.width, height: box.height,
                backgroundImage: style.backgroundImage, backgroundColor: style.backgroundColor,
            };
        }""",
    )
    return shown


def _wait_loaded(page: Page, selector: str) -> dict[str, Any]:
    page.wait_for_function(
        "s => { const img = document.querySelector(s); return !!img && img.complete && img.naturalWidth > 0; }",
        arg=selector,
        timeout=DONE_TIMEOUT_S * 1000,
    )
    return _image(page, selector)


def _rgb(hex_color: str) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _placeholder_size(page: Page, background_image: str) -> list[int]:
    """The size of the image a `url("blob:…")` background holds, as the browser decodes it."""
    url = re.fullmatch(r'url\("(blob:[^"]+)"\)', background_image)
    assert url, background_image
    size: list[int] = page.evaluate(
        # Through an Image, not fetch: the page's CSP lets blob: URLs be images, not connections.
        "async url => { const image = new Image(); image.src = url; await image.decode();"
        " return [image.naturalWidth, image.naturalHeight]; }",
        url[1],
    )
    return size


def _hash_size(page: Page, thumbhash: str) -> list[int]:
    size: list[int] = page.evaluate(
        "h => { const { w, h: height } = thumbHashToRGBA(thumbHashBytes(h)); return [w, height]; }", thumbhash
    )
    return size


def test_a_card_paints_the_thumbhash_first_then_a_picture_of_the_renditions(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    photo = _completed_photo(api, database, image_server)
    held: list[Route] = []
    # The renditions wait here until the placeholder is checked.
    page.route(THUMBS, lambda route: held.append(route))
    page.goto(f"{api}/")
    card = f'.card[data-uuid="{photo["uuid"]}"]'
    img = f"{card} picture > img.thumb"
    expect(page.locator(card)).to_have_attribute("data-status", "completed")

    # One <source> per extra format, the base format in the <img>, sized for the card.
    source = page.locator(f'{card} picture > source[type="image/webp"]')
    expect(source).to_have_count(1)
    assert source.get_attribute("srcset") == photo["srcset"]["webp"]
    assert [link.split(" ")[0] for link in photo["srcset"]["webp"].split(", ")] == _hrefs(photo, "webp")
    assert source.get_attribute("sizes") == f"{SHOWN['width']}px"
    expect(page.locator(f"{card} picture > source")).to_have_count(1)  # no AVIF: not made by default
    assert page.locator(img).get_attribute("srcset") == photo["srcset"]["jpeg"]
    assert page.locator(img).get_attribute("sizes") == f"{SHOWN['width']}px"

    # Before any rendition arrives: the ThumbHash, decoded, over the dominant colour, at the size
    # the image will have.
    wait_until(lambda: held, message="the browser asked for a rendition")
    before = _image(page, img)
    assert not before["loaded"]
    assert before["backgroundColor"] == _rgb(photo["placeholder"]["color"])
    assert _placeholder_size(page, before["backgroundImage"]) == _hash_size(
        page, photo["placeholder"]["thumbhash"]
    )
    assert (before["width"], before["height"]) == (SHOWN["width"], SHOWN["height"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(card).screenshot(path=ARTIFACTS / "dashboard-placeholder.png")

    for route in held:
        route.continue_()
    page.unroute(THUMBS)  # which lets through any asked for meanwhile
    after = _wait_loaded(page, img)
    # Chromium reads WebP; at 240 CSS px and devicePixelRatio 1 it takes the 320 px `thumb`.
    thumb_webp = next(r for r in photo["renditions"] if r["preset"] == "thumb" and r["format"] == "webp")
    assert after["currentSrc"] == f"{api}{thumb_webp['href']}"
    assert after["currentSrc"].removeprefix(api) in _hrefs(photo, "webp")
    assert (after["width"], after["height"]) == (before["width"], before["height"]), "no layout jump"
    assert after["backgroundImage"] == "none", "the placeholder goes once the rendition is there"


def test_a_placeholder_without_a_thumbhash_is_painted_as_its_colour(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    photo = _completed_photo(api, database, image_server)

    def without_hash(route: Route) -> None:
        response = route.fetch()
        photos = response.json()
        for item in photos:
            item["placeholder"]["thumbhash"] = None
        route.fulfill(response=response, json=photos)

    page.route(re.compile(r"/photos\?"), without_hash)
    page.route(THUMBS, lambda route: None)  # held for good: only the placeholder is ever shown
    page.goto(f"{api}/")
    img = f'.card[data-uuid="{photo["uuid"]}"] img.thumb'
    expect(page.locator(img)).to_be_visible()
    shown = _image(page, img)
    assert shown["backgroundColor"] == _rgb(photo["placeholder"]["color"])
    assert shown["backgroundImage"] == "none"
    assert (shown["width"], shown["height"]) == (SHOWN["width"], SHOWN["height"])


def test_a_png_photo_with_avif_gets_an_avif_source_before_webp_and_a_png_img(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    # What the API answers for a transparent photo under RENDITION_FORMATS=webp,avif: the worker
    # here makes the defaults, so the page is shown that answer (the files need not exist).
    photo = _completed_photo(api, database, image_server)

    def png_and_avif(route: Route) -> None:
        response = route.fetch()
        photos = response.json()
        for item in photos:
            renditions = []
            for r in item["renditions"]:
                if r["format"] == "jpeg":
                    r = {**r, "format": "png", "media_type": "image/png", "href": r["href"] + ".png"}
                renditions.append(r)
                if r["format"] == "webp":
                    renditions.append(
                        {**r, "format": "avif", "media_type": "image/avif", "href": r["href"] + ".avif"}
                    )
            item.update(renditions=renditions, base_format="png", thumbnails=[])
        route.fulfill(response=response, json=photos)

    page.route(re.compile(r"/photos\?"), png_and_avif)
    page.route(THUMBS, lambda route: route.fulfill(status=404))
    page.goto(f"{api}/")
    card = f'.card[data-uuid="{photo["uuid"]}"]'
    sources = page.locator(f"{card} picture > source")
    expect(sources).to_have_count(2)
    assert [sources.nth(i).get_attribute("type") for i in range(2)] == ["image/avif", "image/webp"]
    assert sources.nth(0).get_attribute("srcset") == ", ".join(
        f"{r['href']}.avif {r['width']}w" for r in photo["renditions"] if r["format"] == "webp"
    )
    img = page.locator(f"{card} img.thumb")
    assert img.get_attribute("srcset") == ", ".join(
        f"{r['href']}.png {r['width']}w" for r in photo["renditions"] if r["format"] == "jpeg"
    )
    assert str(img.get_attribute("src")).endswith(".png")


def test_the_details_list_every_rendition_and_the_facts_and_close_on_escape(
    api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    photo = _completed_photo(api, database, image_server)
    page.goto(f"{api}/")
    card = page.locator(f'.card[data-uuid="{photo["uuid"]}"]')
    expect(card).to_have_attribute("data-status", "completed")
    button = card.locator("button.details")
    expect(button).to_have_accessible_name(f"Details of photo {photo['uuid']}")

    button.focus()
    page.keyboard.press("Enter")  # the keyboard's way in
    dialog = page.locator("#details")
    expect(dialog).to_be_visible()
    expect(page.locator("#details-body")).to_be_visible()
    expect(page.locator("#details-uuid")).to_have_text(photo["uuid"])

    rows = page.locator("#details-renditions tbody tr")
    expect(rows).to_have_count(len(photo["renditions"]))
    for index, rendition in enumerate(photo["renditions"]):  # smallest first, as the API lists them
        cells = rows.nth(index).locator("td")
        expect(cells).to_have_text(
            [
                rendition["preset"],
                rendition["media_type"],
                f"{rendition['width']} {TIMES} {rendition['height']}",
                f"{rendition['bytes']:,} B",
                rendition["url"].split("/")[-1],
            ]
        )
        assert cells.nth(4).locator("a").get_attribute("href") == rendition["href"]

    facts = photo["facts"]
    expected = {
        "size": f"{facts['width']} {TIMES} {facts['height']}",
        "format": "JPEG",
        "bytes": f"{facts['bytes']:,} B",
        "has_alpha": "no",
        "orientation": "1 (upright)",
        "taken_at": "2024-05-01T12:34:56+02:00",
        "camera_make": "Canon",
        "camera_model": "EOS R6",
    }
    assert (facts["width"], facts["height"]) == (1200, 800)
    for key, text in expected.items():
        expect(page.locator(f'#details-facts [data-fact="{key}"] dd')).to_have_text(text)
    expect(page.locator("#details-facts dt")).to_have_text(
        ["Size", "Format", "Bytes", "Transparency", "Orientation", "Taken at", "Camera make", "Camera model"]
    )
    swatches = page.locator("#details-placeholder")
    expect(swatches).to_contain_text(photo["placeholder"]["color"])
    expect(swatches).to_contain_text(photo["placeholder"]["thumbhash"])
    _wait_loaded(page, "#details-placeholder img")
    chip = page.eval_on_selector(
        "#details-placeholder .swatch-color", "e => getComputedStyle(e).backgroundColor"
    )
    assert chip == _rgb(photo["placeholder"]["color"])

    # The larger image: the largest rendition there is (320 px), never blown up past it.
    large = _wait_loaded(page, "#details-img")
    assert large["currentSrc"].removeprefix(api) in _hrefs(photo, "webp")
    assert large["width"] == max(r["width"] for r in photo["renditions"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#details").screenshot(path=ARTIFACTS / "dashboard-details.png")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => document.activeElement.classList.contains('details')")
    expect(button).to_be_focused()

    card.locator(".thumb-box").click()  # the image opens them too
    expect(dialog).to_be_visible()
    expect(rows).to_have_count(len(photo["renditions"]))
    page.locator("#details-close").click()
    expect(dialog).to_be_hidden()


def test_with_api_token_a_card_and_the_details_show_a_rendition_fetched_with_the_token(
    locked_api: str, worker: ServiceProcess, database: Database, image_server: ImageServer, page: Page
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    photo = _completed_photo(locked_api, database, image_server, headers)
    page.goto(f"{locked_api}/")
    page.locator("#token-input").fill(TOKEN)
    page.locator("#token-form button[type=submit]").click()
    card = f'.card[data-uuid="{photo["uuid"]}"]'
    expect(page.locator(card)).to_have_attribute("data-status", "completed")

    shown = _wait_loaded(page, f"{card} img.thumb")
    # <img> cannot send the header: the page picked what the browser would (WebP, the 320 px
    # `thumb` for 240 CSS px), fetched it with the token and shows it through a blob: URL.
    thumb_webp = next(r for r in photo["renditions"] if r["preset"] == "thumb" and r["format"] == "webp")
    assert shown["src"].startswith("blob:")
    assert shown["href"] == thumb_webp["href"]
    assert (shown["width"], shown["height"]) == (SHOWN["width"], SHOWN["height"])
    expect(page.locator(f"{card} picture > source")).to_have_count(0)

    page.locator(f"{card} button.details").click()
    expect(page.locator("#details-renditions tbody tr")).to_have_count(len(photo["renditions"]))
    large = _wait_loaded(page, "#details-img")
    assert large["src"].startswith("blob:")
    assert large["href"] in _hrefs(photo, "webp")
    expect(page.locator('#details-facts [data-fact="camera_model"] dd')).to_have_text("EOS R6")

    # A rendition's link cannot send the header either: it opens the file fetched with it.
    with page.context.expect_page() as opened:
        page.locator("#details-renditions tbody tr a").first.click()
    tab = opened.value
    tab.wait_for_url(re.compile(r"^blob:"))
    assert tab.evaluate("() => document.images.length === 1 && document.images[0].naturalWidth > 0")
