"""The folder store's files: named from the UUID, written whole or not at all, removable, swept.

What both stores do alike is tested on both in tests/api/test_stores.py."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from pipeline.errors import StorageError
from pipeline.folder_store import FolderStore
from pipeline.storage import thumbnail_relpath


def test_the_path_comes_from_the_uuid_fanned_out_by_its_first_two_digits() -> None:
    photo_id = uuid.UUID("3f2a0000-0000-4000-8000-000000000001")
    assert thumbnail_relpath(photo_id, ".jpg") == "3f/3f2a0000-0000-4000-8000-000000000001.jpg"
    with pytest.raises(ValueError, match="extension"):
        thumbnail_relpath(photo_id, ".exe")


def test_write_leaves_the_final_file_and_no_temporary_one(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    photo_id = uuid.uuid4()
    relpath = store.write(thumbnail_relpath(photo_id, ".jpg"), b"jpeg bytes")
    assert (tmp_path / relpath).read_bytes() == b"jpeg bytes"
    assert [p.name for p in (tmp_path / relpath).parent.iterdir()] == [f"{photo_id}.jpg"]
    assert oct((tmp_path / relpath).stat().st_mode & 0o777) == oct(0o644)


def test_writing_again_replaces_the_file_atomically(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    photo_id = uuid.uuid4()
    relpath = store.write(thumbnail_relpath(photo_id, ".jpg"), b"first")
    inode = (tmp_path / relpath).stat().st_ino
    store.write(thumbnail_relpath(photo_id, ".jpg"), b"second")
    assert (tmp_path / relpath).read_bytes() == b"second"
    assert (tmp_path / relpath).stat().st_ino != inode, "a new file renamed over the old, not rewritten"


def test_a_failed_write_raises_storage_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the root folder should be")
    with pytest.raises(StorageError, match="could not write"):
        FolderStore(blocker).write(thumbnail_relpath(uuid.uuid4(), ".jpg"), b"data")


def test_remove_deletes_every_thumbnail_of_the_photo_only(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    photo_id, other = uuid.uuid4(), uuid.uuid4()
    store.write(thumbnail_relpath(photo_id, ".jpg"), b"a")
    store.write(thumbnail_relpath(photo_id, ".webp"), b"b")
    kept = store.write(thumbnail_relpath(other, ".jpg"), b"c")
    store.remove(photo_id)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")) == [kept]


def test_sweep_removes_only_old_temporary_files(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    (tmp_path / "ab").mkdir()
    old = tmp_path / "ab" / ".ab12.jpg.0123456789ab.tmp"
    fresh = tmp_path / "ab" / ".ab34.jpg.ba9876543210.tmp"
    kept = tmp_path / "ab" / "ab12.jpg"
    for path in (old, fresh, kept):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))

    assert store.sweep_temporary(older_than_s=600) == 1
    assert not old.exists()
    assert fresh.exists()
    assert kept.exists()


def test_after_a_failed_write_check_refuses_until_a_probe_write_succeeds(tmp_path: Path) -> None:
    """A write can fail for reasons the folder's figures do not show (a quota, an I/O error):
    until a write succeeds again, `check` says the store is down, so no photo is downloaded."""
    root = tmp_path / "thumbs"
    root.write_text("a file where the folder should be: every write fails")
    store = FolderStore(root)
    with pytest.raises(StorageError):
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), b"data")
    with pytest.raises(StorageError, match="still refuses writes"):
        store.check()

    root.unlink()
    root.mkdir()
    store.check()
    assert list(root.iterdir()) == [], "the probe leaves nothing behind"
