"""The upgrade to renditions (schema/0011) on a database and a store made by the release before
it, folder and bucket: every row and file stays valid and served, and processing a photo again
or deleting it leaves no file of the old layout behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from harness import services as test_services
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.s3server import S3Server
from harness.service_processes import start_api
from pipeline.thumbnail import make_thumbnail
from schema import migrations
from tests.e2e.reliability import fresh_worker, running
from tests.support.data import DEFAULT_RENDITIONS
from tests.support.images import photo_bytes

BEFORE_RENDITIONS = "0010"  # the last migration of the release before renditions
TRANSPARENT = (Path(__file__).parents[1] / "corpus" / "pil123rgba.png").read_bytes()


def _sql(pg_uri: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg2.connect(pg_uri) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def old_database() -> Iterator[str]:
    """A database of its own at the schema of the release before renditions (0001 to 0010)."""
    made = test_services.RunServices(
        database=f"pp_upgrade_{os.getpid()}_{uuid.uuid4().hex[:6]}", vhost="unused"
    )
    create = psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(made.database))
    test_services.admin_sql(create)
    try:
        conn = psycopg2.connect(made.pg_uri)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
            for migration in migrations.available_migrations():
                if migration.version <= BEFORE_RENDITIONS:
                    with conn, conn.cursor() as cur:  # each in its own transaction, as migrate does
                        cur.execute(migration.sql())
                        cur.execute(
                            "INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,)
                        )
        finally:
            conn.close()
        yield made.pg_uri
    finally:
        drop = psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            psycopg2.sql.Identifier(made.database)
        )
        test_services.admin_sql(drop)


class OldStore:
    """The thumbnails' store as the old release wrote it: a folder or a bucket."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.folder = tmp_path / "thumbs"
        self.env: dict[str, str] = {"THUMBS_DIR": str(self.folder)}
        if kind == "bucket":
            self.s3: S3Server = request.getfixturevalue("s3_server")
            self.env = {**request.getfixturevalue("bucket_env")}

    def put(self, relpath: str, data: bytes) -> None:
        if self.kind == "folder":
            (self.folder / relpath).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / relpath).write_bytes(data)
        else:
            from pipeline.bucket_store import BucketStore

            BucketStore(self.env["THUMBS_BUCKET"]).put(relpath, data)

    def names(self) -> set[str]:
        if self.kind == "folder":
            return {str(p.relative_to(self.folder)) for p in self.folder.rglob("*") if p.is_file()}
        return set(self.s3.objects(self.env["THUMBS_BUCKET"]))


def _old_photo(pg_uri: str, store: OldStore, url: str, thumbnail: bytes, extension: str) -> tuple[str, str]:
    """A photo completed by the old release: its one thumbnail row and file; (uuid, relpath)."""
    [(photo_id,)] = _sql(
        pg_uri, "INSERT INTO photos (url, status) VALUES (%s, 'completed') RETURNING uuid::text", (url,)
    )
    relpath = f"{photo_id[:2]}/{photo_id}{extension}"
    _sql(
        pg_uri,
        "INSERT INTO photo_thumbnails (photo_uuid, width, height, url) VALUES (%s, 320, 240, %s)",
        (photo_id, relpath),
    )
    store.put(relpath, thumbnail)
    return photo_id, relpath


@pytest.mark.parametrize("kind", ["folder", "bucket"])
def test_the_upgrade_keeps_old_thumbnails_served_and_replaces_them_cleanly(
    kind: str,
    old_database: str,
    service_env: dict[str, str],
    image_server: ImageServer,
    log_dir: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    store = OldStore(kind, tmp_path, request)
    source = photo_bytes(1200, 900)
    opaque = make_thumbnail(source).data
    transparent = make_thumbnail(TRANSPARENT).data
    url = image_server.image(f"/upgrade-{uuid.uuid4()}.jpg", source)
    photo, photo_file = _old_photo(old_database, store, url, opaque, ".jpg")
    cutout, cutout_file = _old_photo(old_database, store, url.replace(".jpg", ".png"), transparent, ".webp")

    env = {**service_env, **store.env, "PG_CONNECTION_URI": old_database}
    migrated = migrations.migrate({"dsn": old_database})
    # The release before stopped at 0010: the upgrade applies 0011 and every file after it.
    assert migrated == [m.version for m in migrations.available_migrations() if m.version >= "0011"]
    assert sorted(_sql(old_database, "SELECT preset, format, bytes, url FROM photo_thumbnails")) == sorted(
        [("thumb", "jpeg", None, photo_file), ("thumb", "webp", None, cutout_file)]
    )

    process, api = start_api(env, log_dir)
    with running(process):
        shown = requests.get(f"{api}/photos/{photo}", timeout=30).json()
        assert [t["url"] for t in shown["thumbnails"]] == [photo_file]
        assert [(r["preset"], r["format"], r["url"]) for r in shown["renditions"]] == [
            ("thumb", "jpeg", photo_file)
        ]
        assert shown["srcset"] == {"jpeg": f"/thumbs/{photo_file} 320w"}
        assert shown["facts"] is None
        assert shown["placeholder"] is None
        assert requests.get(f"{api}/thumbs/{photo_file}", timeout=30).content == opaque
        assert requests.get(f"{api}/thumbs/{photo}/thumb", timeout=30).content == opaque
        webp = requests.get(f"{api}/thumbs/{cutout}/thumb", headers={"Accept": "*/*"}, timeout=30)
        assert webp.status_code == 200
        assert (webp.headers["Content-Type"], webp.content) == ("image/webp", transparent)

        # Processed again: the renditions replace the old thumbnail, whose file goes.
        with running(fresh_worker(env, log_dir)):
            _sql(old_database, "UPDATE photos SET status = 'pending' WHERE uuid = %s", (photo,))
            queued = requests.post(f"{api}/photos/process", json=[photo], timeout=30)
            assert queued.json()["queued"] == [photo]
            wait_until(
                lambda: (
                    _sql(old_database, "SELECT status::text FROM photos WHERE uuid = %s", (photo,))
                    == [("completed",)]
                ),
                timeout=60,
                message="the photo is processed again",
            )
        rows = _sql(old_database, "SELECT url FROM photo_thumbnails WHERE photo_uuid = %s", (photo,))
        assert len(rows) == DEFAULT_RENDITIONS
        # And deleted: its old file goes with its row.
        assert requests.delete(f"{api}/photos/{cutout}", timeout=30).status_code == 204

    assert store.names() == {url for (url,) in rows}, "only the new renditions are left"
