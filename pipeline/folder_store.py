"""Thumbnail files under THUMBS_DIR, the default store (pipeline/storage.py has the interface).

A thumbnail is written to a temporary file in its final directory, flushed to disk, then
renamed over its final name: a reader sees either no file or a whole one, never half of one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Collection
from pathlib import Path
from stat import S_ISREG
from uuid import UUID

from pipeline.errors import StorageError
from pipeline.formats import MEDIA_TYPES
from pipeline.storage import StoredThumbnail, checked_relpath, legacy_relpaths, original_relpath, photo_folder

TEMP_SUFFIX = ".tmp"
# Below this much free space the store counts as full: a thumbnail is tens of KB, and a disk
# that full fails every write, metadata included.
MIN_FREE_BYTES = 1024 * 1024
MIN_FREE_INODES = 16
# What `check` writes after a failed write, to see the store take a thumbnail again.
PROBE_BYTES = 64 * 1024
# Temporary files older than this were left by a writer that died (a live one takes a second).
STALE_TEMP_FILE_S = 600

log = logging.getLogger(__name__)


class FolderStore:
    """Writes, finds and removes thumbnail files below one root folder."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self.description = f"folder {root}"
        # Set by a write that failed, cleared by one that succeeds: until then `check` probes.
        self._write_failed = False

    def start(self) -> None:
        """Make the folder if missing and sweep the temporary files a dead writer left."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self.sweep_temporary(older_than_s=STALE_TEMP_FILE_S)
        except OSError as error:
            log.error("Thumbnail %s unusable: %s. Photos wait until it is.", self.description, error)

    def write(self, relpath: str, data: bytes) -> str:
        """Atomically write a file at `relpath`; return it."""
        final = self._root / relpath
        temp = final.with_name(f".{final.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    # Without fsync a crash after the rename (and after the row is committed)
                    # could leave an empty file under a name the database vouches for.
                    os.fsync(out.fileno())
                os.replace(temp, final)
            finally:
                temp.unlink(missing_ok=True)
        except OSError as error:
            self._write_failed = True
            raise StorageError(f"could not write {relpath}: {error.strerror or error}") from error
        self._write_failed = False
        return relpath

    def remove(self, photo_id: UUID, *, keep: Collection[str] = ()) -> None:
        """Remove the files of a photo but those in `keep` (a failed photo keeps none): its
        folder's, and the one thumbnail it may have from before renditions."""
        for relpath in legacy_relpaths(photo_id):
            if relpath not in keep:
                (self._root / relpath).unlink(missing_ok=True)
        folder = photo_folder(photo_id)
        try:
            entries = list(os.scandir(self._root / folder))
        except FileNotFoundError:
            return
        for entry in entries:  # renditions, and a dead writer's temporary files
            if f"{folder}/{entry.name}" not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        if not keep:
            with contextlib.suppress(OSError):  # not empty: a writer came in between; kept
                (self._root / folder).rmdir()

    def check(self) -> None:
        """Raise StorageError unless a thumbnail can be written now: the folder is writable and
        has room. Cheap (no file is written), so it runs before every download."""
        try:
            stat = os.statvfs(self._root)
        except OSError as error:
            raise StorageError(f"thumbnail folder unavailable: {error.strerror or error}") from error
        if not os.access(self._root, os.W_OK):
            raise StorageError(f"thumbnail folder {self._root} is not writable")
        if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES or (
            stat.f_files and stat.f_favail < MIN_FREE_INODES
        ):
            raise StorageError(f"thumbnail folder {self._root} is full")
        if self._write_failed:
            self._probe()

    def _probe(self) -> None:
        """Write, flush and remove a file as large as a big thumbnail: after a write failed for
        a reason the folder's figures do not show (a quota, an I/O error), only a write that
        succeeds says the store is back, and no photo is downloaded before it does."""
        probe = self._root / f".probe.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            with probe.open("xb") as out:
                out.write(bytes(PROBE_BYTES))
                out.flush()
                os.fsync(out.fileno())
        except OSError as error:
            raise StorageError(
                f"thumbnail folder {self._root} still refuses writes: {error.strerror or error}"
            ) from error
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
        self._write_failed = False

    def read(self, relpath: str, *, held: tuple[str, ...] = ()) -> StoredThumbnail | None:
        """The file at `relpath`, opened unless the client holds it (see ThumbnailStore.read)."""
        pure = checked_relpath(relpath)
        if pure is None:
            return None
        file = self._root.joinpath(*pure.parts)
        try:
            stat = file.stat()
        except OSError:  # missing, a file where a folder should be, a name too long
            return None
        if not S_ISREG(stat.st_mode):
            return None
        # A rewrite renames a new file into place: a new inode, even should the size and the
        # modification time (whose clock may tick only every few ms) come out the same.
        etag = f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"
        body = None if etag in held else file.open("rb")
        return StoredThumbnail(etag=etag, media_type=MEDIA_TYPES[pure.suffix], size=stat.st_size, body=body)

    def keep_original(self, sha256: str, data: bytes) -> None:
        """Write the source under its hash, atomically (as a thumbnail)."""
        self.write(original_relpath(sha256), data)

    def original(self, sha256: str) -> bytes | None:
        """The source kept under this hash, or None."""
        try:
            return (self._root / original_relpath(sha256)).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"could not read original {sha256}: {error.strerror or error}") from error

    def drop_original(self, sha256: str) -> None:
        """Remove the source kept under this hash."""
        (self._root / original_relpath(sha256)).unlink(missing_ok=True)

    def sweep_temporary(self, *, older_than_s: float) -> int:
        """Delete temporary files left by a writer that died; return how many were removed.

        Only files older than `older_than_s` go: a live writer's file is seconds old.
        """
        cutoff = time.time() - older_than_s
        removed = 0
        if not self._root.is_dir():
            return 0
        temporary = (*self._root.glob(f"*/.*{TEMP_SUFFIX}"), *self._root.glob(f"*/*/.*{TEMP_SUFFIX}"))
        for temp in temporary:
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("Removed %d temporary thumbnail files left by stopped writers.", removed)
        return removed
