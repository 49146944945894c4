"""Removing a photo's other thumbnails once its outcome is decided: only when an earlier attempt
may have left one, and a store failing then does not undo or hide the outcome.

The processor runs in-process on the real database, downloading from the test image server;
its store is a real folder whose removals can be made to fail, as a bucket's would in a blip.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Collection
from pathlib import Path

import pytest
from peewee import Database

from config import Config
from harness.imageserver import ImageServer
from pipeline.errors import StorageError
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.folder_store import FolderStore
from pipeline.processor import PhotoProcessor
from pipeline.render_settings import RenderSettings
from pipeline.renditions import make_renditions
from tests.support.data import insert_photo, photo_row
from tests.support.images import photo_bytes


class Removals(FolderStore):
    """A folder store that records its removals, and fails them when told to."""

    def __init__(self, root: Path, *, failing: bool) -> None:
        super().__init__(root)
        self.failing = failing
        self.removals: list[uuid.UUID] = []

    def remove(self, photo_id: uuid.UUID, *, keep: Collection[str] = ()) -> None:
        self.removals.append(photo_id)
        if self.failing:
            raise StorageError("could not remove: the store blinked")
        super().remove(photo_id, keep=keep)


def _processor(config: Config, database: Database, store: Removals) -> PhotoProcessor:
    return PhotoProcessor(
        db=database,  # type: ignore[arg-type]
        fetcher=Fetcher(FetchPolicy.from_config(config)),
        settings=RenderSettings.from_config(config),
        render=functools.partial(make_renditions, presets=config.presets, formats=config.extra_formats),
        store=store,
        max_attempts=4,
        max_crashes=3,
    )


def _photo(database: Database, image_server: ImageServer) -> str:
    return insert_photo(database, image_server.image(f"/removals-{uuid.uuid4()}.jpg", photo_bytes(64, 48)))


def test_a_first_attempt_asks_the_store_to_remove_nothing(
    config: Config, database: Database, image_server: ImageServer, tmp_path: Path
) -> None:
    store = Removals(tmp_path, failing=False)
    photo_id = _photo(database, image_server)

    outcome = _processor(config, database, store).process(photo_id)

    assert outcome.result == "completed"
    assert store.removals == [], "no attempt before this one: no other thumbnail can exist"


def test_a_later_attempt_removes_what_an_earlier_one_left_and_its_outcome_stands_if_that_fails(
    config: Config,
    database: Database,
    image_server: ImageServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Removals(tmp_path, failing=True)
    photo_id = _photo(database, image_server)
    # An earlier attempt began (a crash, a retry): it may have left renditions of other settings.
    database.execute_sql(
        "UPDATE photos SET claimed_at = now() - interval '1 hour' WHERE uuid = %s", (photo_id,)
    )

    with caplog.at_level(logging.WARNING, logger="pipeline.processor"):
        outcome = _processor(config, database, store).process(photo_id)

    assert store.removals == [uuid.UUID(photo_id)]
    assert outcome.result == "completed", "the outcome is logged and metered as what it is"
    row = photo_row(database, photo_id)
    assert row["status"] == "completed"
    assert len(row["renditions"]) == 4, "sm and thumb, in JPEG and WebP (the defaults)"
    assert "left in the store" in caplog.text


def test_a_failed_photo_stays_failed_when_its_thumbnails_cannot_be_removed(
    config: Config, database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Removals(tmp_path, failing=True)
    photo_id = insert_photo(database, status="processing")

    with caplog.at_level(logging.WARNING, logger="pipeline.processor"):
        changed = _processor(config, database, store).fail(photo_id, "source_unavailable: 503")

    assert changed, "the worker logs and counts the failure"
    assert photo_row(database, photo_id)["status"] == "failed"
    assert store.removals == [uuid.UUID(photo_id)]
    assert "left in the store" in caplog.text
