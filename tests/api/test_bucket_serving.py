"""The API on a bucket: /thumbs streams the objects with ETag and 304, /healthz reports the store,
and THUMBS_PUBLIC_BASE_URL gives each thumbnail a public_url."""

from __future__ import annotations

import uuid
from dataclasses import replace

import falcon.testing
import pytest
from peewee import Database

from api.app import create_app
from config import Config
from harness.s3server import S3Server
from pipeline.bucket_store import BucketStore
from pipeline.storage import thumbnail_relpath
from publishing import one_at_a_time
from tests.support.data import insert_photo

# A CDN in front of the bucket's root: the base carries the prefix ("t").
CDN = "https://cdn.example.com/t/"
THUMBNAIL = b"\xff\xd8 a thumbnail in a bucket"


def _app(config: Config, database: Database, **checks: BucketStore) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(
        create_app(
            config,
            db=database,
            publish=one_at_a_time(print),
            health_checks={name: store.check for name, store in checks.items()},
        )
    )


def _bucket_config(config: Config, bucket_env: dict[str, str]) -> Config:
    return replace(
        config, thumbs_bucket=bucket_env["THUMBS_BUCKET"], thumbs_prefix="t", thumbs_public_base_url=CDN
    )


def _completed(database: Database, store: BucketStore) -> tuple[str, str]:
    photo_id = insert_photo(database)
    relpath = store.write(thumbnail_relpath(uuid.UUID(photo_id), ".jpg"), THUMBNAIL)
    database.execute_sql(
        "INSERT INTO photo_thumbnails (photo_uuid, preset, format, width, height, url)"
        " VALUES (%s, 'thumb', 'jpeg', 320, 240, %s)",
        (photo_id, relpath),
    )
    database.execute_sql("UPDATE photos SET status = 'completed' WHERE uuid = %s", (photo_id,))
    return photo_id, relpath


def test_thumbs_streams_the_object_and_revalidates_by_its_etag(
    config: Config, database: Database, bucket_env: dict[str, str], s3_server: S3Server
) -> None:
    bucket_config = _bucket_config(config, bucket_env)
    _, relpath = _completed(database, BucketStore(bucket_env["THUMBS_BUCKET"], prefix="t"))
    assert f"t/{relpath}" in s3_server.objects(bucket_env["THUMBS_BUCKET"])
    client = _app(bucket_config, database)

    result = client.simulate_get(f"/thumbs/{relpath}")
    again = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": result.headers["etag"]})
    other = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": '"another-version"'})

    assert result.status_code == 200
    assert result.content == THUMBNAIL
    assert result.headers["content-type"] == "image/jpeg"
    assert result.headers["cache-control"] == "public, max-age=60, must-revalidate"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == result.headers["etag"]
    assert other.status_code == 200
    assert other.content == THUMBNAIL
    assert client.simulate_get(f"/thumbs/{relpath[:-4]}0.jpg").status_code == 404
    for outside in ("../config.py", "../t/" + relpath, relpath[:2] + "/../../x.jpg", relpath + "%00.jpg"):
        assert client.simulate_get(f"/thumbs/{outside}").status_code == 404, outside


def test_any_if_none_match_a_client_sends_gets_the_right_answer(
    config: Config, database: Database, bucket_env: dict[str, str]
) -> None:
    _, relpath = _completed(database, BucketStore(bucket_env["THUMBS_BUCKET"], prefix="t"))
    client = _app(_bucket_config(config, bucket_env), database)
    etag = client.simulate_get(f"/thumbs/{relpath}").headers["etag"]
    many_others = ", ".join(f'"other-{n}"' for n in range(300))

    for held, status in [
        (etag, 304),
        (f"W/{etag}", 304),  # a weak comparison, as If-None-Match asks
        (f'"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
        (many_others, 200),
    ]:
        result = client.simulate_get(f"/thumbs/{relpath}", headers={"If-None-Match": held})
        assert result.status_code == status, held
        assert result.content == (THUMBNAIL if status == 200 else b""), held


def test_thumbs_answers_503_when_the_store_is_down_or_the_bucket_missing(
    config: Config,
    database: Database,
    bucket_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, relpath = _completed(database, BucketStore(bucket_env["THUMBS_BUCKET"], prefix="t"))
    missing = _app(replace(_bucket_config(config, bucket_env), thumbs_bucket="no-such-bucket-here"), database)
    answers = [missing.simulate_get(f"/thumbs/{relpath}")]  # NoSuchBucket is no missing thumbnail
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nobody there
    answers.append(_app(_bucket_config(config, bucket_env), database).simulate_get(f"/thumbs/{relpath}"))

    for result in answers:
        assert result.status_code == 503
        assert result.json["title"] == "Thumbnail storage unavailable"
        assert result.headers["retry-after"] == "5"


def test_photos_carry_the_relative_url_the_href_and_the_public_url(
    config: Config, database: Database, bucket_env: dict[str, str]
) -> None:
    photo_id, relpath = _completed(database, BucketStore(bucket_env["THUMBS_BUCKET"], prefix="t"))
    client = _app(_bucket_config(config, bucket_env), database)

    [thumbnail] = client.simulate_get(f"/photos/{photo_id}").json["thumbnails"]
    [listed] = client.simulate_get("/photos", params={"status": "completed"}).json

    assert thumbnail["url"] == relpath
    assert thumbnail["href"] == f"/thumbs/{relpath}"
    assert thumbnail["public_url"] == f"https://cdn.example.com/t/{relpath}"
    assert listed["thumbnails"] == [thumbnail]
    without_cdn = _app(replace(config, thumbs_public_base_url=None), database)
    assert without_cdn.simulate_get(f"/photos/{photo_id}").json["thumbnails"][0]["public_url"] is None


def test_healthz_reports_a_missing_bucket_as_storage_down(
    config: Config, database: Database, bucket_env: dict[str, str]
) -> None:
    present = BucketStore(bucket_env["THUMBS_BUCKET"])
    missing = BucketStore(f"{bucket_env['THUMBS_BUCKET']}-missing")

    up = _app(config, database, storage=present).simulate_get("/healthz")
    down = _app(config, database, storage=missing).simulate_get("/healthz")

    assert up.status_code == 200
    assert up.json["storage"] == {"status": "up"}
    assert down.status_code == 503
    assert down.json["storage"] == {"status": "down"}
