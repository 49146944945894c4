"""GET /thumbs/{uuid}/{preset}[.{ext}] on the real database, from the folder and from a bucket:
the format by Accept (Vary: Accept) or by extension, an ETag per variant and its 304, the 404s
and the 406, and today's /thumbs/{relpath} beside it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import falcon.testing
import pytest
from peewee import Database

from api.app import create_app
from config import Config
from pipeline.bucket_store import BucketStore
from pipeline.formats import FORMATS
from publishing import one_at_a_time
from tests.support.data import insert_photo
from tests.unit.test_negotiation import CHROME, FIREFOX_120, FIREFOX_OLD, SAFARI_14, SAFARI_16, SAFARI_17

BYTES = {
    "jpeg": b"\xff\xd8 a jpeg rendition",
    "png": b"\x89PNG a png rendition",
    "webp": b"RIFF a webp rendition",
    "avif": b"\x00\x00\x00\x1cftypavif an avif rendition",
}
ABSENT_PHOTO = "00000000-0000-4000-8000-000000000000"
TOKEN = "rendition-token"


@dataclass
class Store:
    """One kind of store: the settings that select it, and how a test puts and removes objects."""

    config: Config
    put: Callable[[str, bytes], None]
    remove: Callable[[str], None]


@pytest.fixture(params=["folder", "bucket"])
def store(request: pytest.FixtureRequest, config: Config) -> Store:
    if request.param == "folder":

        def put(relpath: str, data: bytes) -> None:
            path = config.thumbs_dir / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        return Store(config, put, lambda relpath: (config.thumbs_dir / relpath).unlink())
    bucket = request.getfixturevalue("bucket_env")["THUMBS_BUCKET"]
    bucket_store = BucketStore(bucket, prefix="t")
    return Store(
        replace(config, thumbs_bucket=bucket, thumbs_prefix="t"),
        bucket_store.put,
        lambda relpath: bucket_store.client.delete_object(Bucket=bucket, Key=bucket_store.key(relpath)),
    )


def _client(config: Config, database: Database) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(
        create_app(config, db=database, publish=one_at_a_time(print), health_checks={})
    )


def _photo(database: Database, store: Store, formats: tuple[str, ...], preset: str = "thumb") -> str:
    """A photo with renditions of `preset` in `formats`, as the worker writes them now (a relpath
    per preset and digest, the digest and byte count in the row); its UUID."""
    photo_id = insert_photo(database)
    for name in formats:
        _rendition(database, store, photo_id, preset, name)
    return photo_id


def _rendition(database: Database, store: Store, photo_id: str, preset: str, name: str) -> str:
    data = BYTES[name]
    digest = hashlib.sha256(data).hexdigest()
    relpath = f"{photo_id[:2]}/{photo_id}/{preset}.{digest[:12]}{FORMATS[name].extension}"
    store.put(relpath, data)
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, bytes, digest, url)"
        " VALUES (%s, %s, %s, 320, 240, %s, %s, %s)",
        (photo_id, preset, name, len(data), digest, relpath),
    )
    return relpath


def _legacy_photo(database: Database, store: Store) -> tuple[str, str]:
    """A photo processed before renditions: `ab/<uuid>.jpg`, no digest, no byte count."""
    photo_id = insert_photo(database)
    relpath = f"{photo_id[:2]}/{photo_id}.jpg"
    store.put(relpath, BYTES["jpeg"])
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " VALUES (%s, 'thumb', 'jpeg', 320, 240, %s)",
        (photo_id, relpath),
    )
    return photo_id, relpath


def _etag_of(name: str) -> str:
    return f'"{hashlib.sha256(BYTES[name]).hexdigest()[:32]}"'


@pytest.mark.parametrize(
    ("accept", "formats", "chosen"),
    [
        (CHROME, ("jpeg", "webp", "avif"), "avif"),
        (CHROME, ("jpeg", "webp"), "webp"),
        (CHROME, ("jpeg",), "jpeg"),
        # Safari lists WebP before AVIF at the same weight: the order means nothing, AVIF wins.
        (SAFARI_16, ("jpeg", "webp", "avif"), "avif"),
        (SAFARI_17, ("png", "webp", "avif"), "avif"),
        (SAFARI_14, ("jpeg", "webp", "avif"), "webp"),
        (FIREFOX_120, ("jpeg", "webp", "avif"), "avif"),
        (FIREFOX_OLD, ("jpeg", "webp", "avif"), "webp"),
        ("*/*", ("jpeg", "webp", "avif"), "jpeg"),  # curl
        ("*/*", ("png", "webp", "avif"), "png"),
        (None, ("jpeg", "webp", "avif"), "jpeg"),
        ("image/jpeg;q=0.5, image/webp;q=0.4", ("jpeg", "webp"), "jpeg"),
    ],
)
def test_each_browser_gets_the_format_its_accept_header_prefers(
    store: Store, database: Database, accept: str | None, formats: tuple[str, ...], chosen: str
) -> None:
    photo_id = _photo(database, store, formats)
    headers = {"Accept": accept} if accept is not None else {}

    result = _client(store.config, database).simulate_get(f"/thumbs/{photo_id}/thumb", headers=headers)

    assert result.status_code == 200
    assert result.content == BYTES[chosen]
    assert result.headers["content-type"] == FORMATS[chosen].media_type
    assert result.headers["vary"] == "Accept"
    assert result.headers["etag"] == _etag_of(chosen)
    assert result.headers["cache-control"] == "public, max-age=60, must-revalidate"


def test_each_variant_has_its_own_etag_and_a_304_reads_nothing_from_the_store(
    store: Store, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    photo_id = insert_photo(database)
    jpeg = _rendition(database, store, photo_id, "thumb", "jpeg")
    webp = _rendition(database, store, photo_id, "thumb", "webp")
    client = _client(store.config, database)
    url = f"/thumbs/{photo_id}/thumb"
    as_jpeg = client.simulate_get(url, headers={"Accept": "*/*"})
    as_webp = client.simulate_get(url, headers={"Accept": CHROME})
    store.remove(jpeg)  # a 304 needs only the row: the store is not asked
    store.remove(webp)

    again = client.simulate_get(url, headers={"Accept": CHROME, "If-None-Match": as_webp.headers["etag"]})
    both = f"{as_jpeg.headers['etag']}, W/{as_webp.headers['etag']}"
    weak = client.simulate_get(url, headers={"Accept": "*/*", "If-None-Match": both})
    anything = client.simulate_get(f"{url}.webp", headers={"If-None-Match": "*"})
    # The other variant's tag is no match: the client needs this one, whose file is gone.
    with caplog.at_level(logging.WARNING, logger="api.resources.renditions"):
        other = client.simulate_get(url, headers={"Accept": "*/*", "If-None-Match": as_webp.headers["etag"]})

    assert as_jpeg.headers["etag"] == _etag_of("jpeg")
    assert as_webp.headers["etag"] == _etag_of("webp")
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == as_webp.headers["etag"]
    assert again.headers["vary"] == "Accept"
    assert again.headers["cache-control"] == "public, max-age=60, must-revalidate"
    assert weak.status_code == 304
    assert weak.headers["etag"] == as_jpeg.headers["etag"]
    assert anything.status_code == 304
    assert other.status_code == 404
    assert other.json["title"] == "Rendition not found"
    assert any(jpeg in record.getMessage() for record in caplog.records)


def test_an_extension_names_the_format_without_negotiating(store: Store, database: Database) -> None:
    photo_id = _photo(database, store, ("jpeg", "webp"))
    client = _client(store.config, database)

    webp = client.simulate_get(f"/thumbs/{photo_id}/thumb.webp", headers={"Accept": "*/*"})
    jpeg = client.simulate_get(f"/thumbs/{photo_id}/thumb.jpg", headers={"Accept": CHROME})
    held = client.simulate_get(f"/thumbs/{photo_id}/thumb.webp", headers={"If-None-Match": _etag_of("webp")})

    assert webp.status_code == 200
    assert webp.content == BYTES["webp"]
    assert webp.headers["content-type"] == "image/webp"
    assert webp.headers["etag"] == _etag_of("webp")
    assert "vary" not in webp.headers
    assert jpeg.status_code == 200
    assert jpeg.content == BYTES["jpeg"]
    assert held.status_code == 304


def test_an_unknown_photo_preset_or_format_is_a_404_in_the_error_shape(
    store: Store, database: Database
) -> None:
    photo_id = _photo(database, store, ("jpeg", "webp"))
    client = _client(store.config, database)

    for path, title in [
        (f"/thumbs/{ABSENT_PHOTO}/thumb", "Photo not found"),
        (f"/thumbs/{ABSENT_PHOTO}/thumb.jpg", "Photo not found"),
        (f"/thumbs/{photo_id}/sm", "Rendition not found"),
        (f"/thumbs/{photo_id}/thumb@2x.webp", "Rendition not found"),
        (f"/thumbs/{photo_id}/thumb.avif", "Rendition not found"),
        (f"/thumbs/{photo_id}/thumb.png", "Rendition not found"),
        (f"/thumbs/{photo_id}/thumb.gif", "Format not found"),
        (f"/thumbs/{photo_id}/thumb.jpeg", "Format not found"),
        (f"/thumbs/{photo_id}/thumb.", "Format not found"),
        (f"/thumbs/{photo_id}/Thumb", "Preset not found"),
        (f"/thumbs/{photo_id}/.webp", "Preset not found"),
        (f"/thumbs/{photo_id}/thumb%00", "Preset not found"),
        (f"/thumbs/{photo_id}/{'x' * 5000}", "Preset not found"),
        (f"/thumbs/{photo_id.upper()}/sm", "Rendition not found"),
    ]:
        result = client.simulate_get(path, headers={"Accept": CHROME})
        assert result.status_code == 404, path
        assert result.json["title"] == title, path
        assert result.json["description"], path
    # Not a rendition's path (the UUID is not the first segment, or more segments follow): a
    # relpath, which the store does not have.
    for path in (f"/thumbs/{photo_id}", f"/thumbs/{photo_id}/thumb/x.jpg", f"/thumbs/x/{photo_id}/thumb"):
        result = client.simulate_get(path)
        assert result.status_code == 404, path
        assert result.json["title"] == "Thumbnail not found", path


def test_an_accept_that_takes_no_format_available_is_a_406_naming_them(
    store: Store, database: Database
) -> None:
    photo_id = _photo(database, store, ("jpeg", "webp"))
    jpeg_only = _photo(database, store, ("jpeg",))
    client = _client(store.config, database)

    json_only = client.simulate_get(f"/thumbs/{photo_id}/thumb", headers={"Accept": "application/json"})
    no_jpeg = client.simulate_get(
        f"/thumbs/{jpeg_only}/thumb", headers={"Accept": "image/jpeg;q=0, application/json"}
    )
    html = client.simulate_get(f"/thumbs/{photo_id}/thumb", headers={"Accept": "text/html"})

    assert json_only.status_code == 406
    assert json_only.headers["vary"] == "Accept"
    assert json_only.json["title"] == "Not acceptable"
    assert "jpeg, webp" in json_only.json["description"]
    assert "image/jpeg, image/webp" in json_only.json["description"]
    assert no_jpeg.status_code == 406
    assert "available as jpeg (image/jpeg)" in no_jpeg.json["description"]
    # A client taking neither an image nor JSON gets the status alone (Falcon's error serialiser
    # sends a body only in a type the client accepts).
    assert html.status_code == 406
    assert html.headers["vary"] == "Accept"


def test_rows_from_before_renditions_are_served_by_relpath_and_by_preset(
    store: Store, database: Database
) -> None:
    photo_id, relpath = _legacy_photo(database, store)
    new_relpath = _rendition(database, store, photo_id, "sm", "webp")
    client = _client(store.config, database)

    by_relpath = client.simulate_get(f"/thumbs/{relpath}")
    by_preset = client.simulate_get(f"/thumbs/{photo_id}/thumb", headers={"Accept": CHROME})
    held = client.simulate_get(
        f"/thumbs/{photo_id}/thumb", headers={"If-None-Match": by_preset.headers["etag"]}
    )
    new_by_relpath = client.simulate_get(f"/thumbs/{new_relpath}")

    assert by_relpath.status_code == 200
    assert by_relpath.content == BYTES["jpeg"]
    assert by_relpath.headers["content-type"] == "image/jpeg"
    assert by_preset.status_code == 200
    assert by_preset.content == BYTES["jpeg"]
    # No digest: the store's ETag, the same the relpath's answer has.
    assert by_preset.headers["etag"] == by_relpath.headers["etag"]
    assert held.status_code == 304
    assert held.content == b""
    assert new_by_relpath.status_code == 200
    assert new_by_relpath.content == BYTES["webp"]
    assert new_by_relpath.headers["content-type"] == "image/webp"


def test_with_api_token_the_renditions_need_it_and_no_shared_cache_keeps_them(
    store: Store, database: Database
) -> None:
    photo_id = _photo(database, store, ("jpeg", "webp"))
    _, relpath = _legacy_photo(database, store)
    client = _client(replace(store.config, api_token=TOKEN), database)
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    for path in (f"/thumbs/{photo_id}/thumb", f"/thumbs/{photo_id}/thumb.webp", f"/thumbs/{relpath}"):
        refused = client.simulate_get(path, headers={"Accept": CHROME})
        wrong = client.simulate_get(path, headers={"Accept": CHROME, "Authorization": "Bearer nope"})
        served = client.simulate_get(path, headers={"Accept": CHROME, **bearer})
        assert refused.status_code == 401, path
        assert wrong.status_code == 401, path
        assert served.status_code == 200, path
        assert served.headers["cache-control"] == "private, max-age=60, must-revalidate", path
    assert client.simulate_get(f"/thumbs/{ABSENT_PHOTO}/thumb").status_code == 401


def test_head_answers_as_get_without_the_body(store: Store, database: Database) -> None:
    photo_id = _photo(database, store, ("jpeg", "webp"))
    _, relpath = _legacy_photo(database, store)
    client = _client(store.config, database)

    for path, name in [
        (f"/thumbs/{photo_id}/thumb", "webp"),
        (f"/thumbs/{photo_id}/thumb.jpg", "jpeg"),
        (f"/thumbs/{relpath}", "jpeg"),
    ]:
        get = client.simulate_get(path, headers={"Accept": CHROME})
        head = client.simulate_head(path, headers={"Accept": CHROME})
        assert head.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-length"] == str(len(BYTES[name])), path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers["etag"] == get.headers["etag"], path
        assert head.headers.get("vary") == get.headers.get("vary"), path
        held = client.simulate_head(path, headers={"Accept": CHROME, "If-None-Match": get.headers["etag"]})
        assert held.status_code == 304, path
    assert client.simulate_head(f"/thumbs/{photo_id}/sm").status_code == 404
    assert (
        client.simulate_head(f"/thumbs/{photo_id}/thumb", headers={"Accept": "text/html"}).status_code == 406
    )
