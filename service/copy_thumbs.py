"""Copy the folder's thumbnails into the bucket, for a user moving up: `python -m service copy-thumbs`.

Rows name a thumbnail by the same relative path in either store (pipeline/storage.py), so the copy
changes no row. The bucket is listed once, and a file whose object is there is left alone: a put is
atomic, so an object there is whole, and once workers write to the bucket it may be newer than
the file. A second run copies nothing, and a run that was stopped copies only what it had not.
Only the names the store gives are copied (renditions, `<2 hex>/<uuid>/<preset>.<digest><ext>`,
and thumbnails from before them, `<2 hex>/<uuid><ext>`), never the folder store's temporary
files or anything else found in the folder.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from config import Config
from pipeline.bucket_store import BucketStore
from pipeline.errors import StorageError
from pipeline.storage import RENDITION_NAME, legacy_relpaths, photo_folder
from service.progress import ProgressBar

THREADS = 8
# Puts submitted but not finished, per thread: the pool is kept busy while memory stays flat
# however many files there are.
QUEUED_PER_THREAD = 4
# After this many failures in a row the bucket is taken to be down: the run stops (it can be run
# again) rather than fail a million files one timeout at a time.
FAILURES_IN_A_ROW = 50
ERRORS_SHOWN = 5
_HEX = frozenset("0123456789abcdef")

log = logging.getLogger(__name__)


@dataclass
class CopyResult:
    """What one run did."""

    copied: int = 0
    already: int = 0  # in the bucket already: left alone
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first ERRORS_SHOWN
    stopped: bool = False  # gave up after FAILURES_IN_A_ROW failures in a row


def thumbnail_files(root: Path) -> Iterator[str]:
    """The relpath of every thumbnail under `root`: only the names the folder store gives."""
    with os.scandir(root) as top:
        folders = [entry.name for entry in top if _is_fan_out(entry.name) and entry.is_dir()]
    for folder in sorted(folders):
        with os.scandir(root / folder) as entries:
            listed = list(entries)
        for entry in listed:
            if _is_thumbnail(folder, entry.name) and entry.is_file():
                yield f"{folder}/{entry.name}"
            elif _is_photo_folder(folder, entry.name) and entry.is_dir():
                with os.scandir(entry.path) as renditions:
                    for rendition in renditions:
                        if RENDITION_NAME.fullmatch(rendition.name) and rendition.is_file():
                            yield f"{folder}/{entry.name}/{rendition.name}"


def _is_fan_out(name: str) -> bool:
    """Whether `name` is one of the 256 folders the store fans out into (`00` to `ff`)."""
    return len(name) == 2 and set(name) <= _HEX


def _is_thumbnail(folder: str, name: str) -> bool:
    """Whether `folder/name` is the name of a thumbnail; a temporary file (`.<name>.<hex>.tmp`),
    an upper-case or brace-wrapped UUID or a file in the wrong folder is not."""
    stem, _ = os.path.splitext(name)
    try:
        photo_id = UUID(stem)
    except ValueError:
        return False
    return f"{folder}/{name}" in legacy_relpaths(photo_id)


def _is_photo_folder(folder: str, name: str) -> bool:
    """Whether `folder/name` is the folder of a photo's renditions (`<2 hex>/<uuid>`)."""
    try:
        photo_id = UUID(name)
    except ValueError:
        return False
    return photo_folder(photo_id) == f"{folder}/{name}"


def copy_thumbs(
    root: Path,
    store: BucketStore,
    *,
    threads: int = THREADS,
    progress: Callable[[int, int], None] | None = None,
) -> CopyResult:
    """Put every thumbnail under `root` that the bucket lacks.
    StorageError when the bucket cannot be listed; a file that cannot be copied is counted."""
    log.info("Listing %s.", store.description)
    there = set(store.relpaths())
    result = CopyResult()
    todo: list[str] = []
    for relpath in thumbnail_files(root):
        if relpath in there:
            result.already += 1
        else:
            todo.append(relpath)
    del there
    log.info("%d thumbnail(s) to copy, %d already in the bucket.", len(todo), result.already)
    running: set[Future[None]] = set()
    in_a_row = 0

    def settle(done: set[Future[None]]) -> None:
        """Count the finished puts and move the bar."""
        nonlocal in_a_row
        for future in done:
            running.remove(future)
            if (error := future.exception()) is None:
                result.copied += 1
                in_a_row = 0
                continue
            result.failed += 1
            in_a_row += 1
            result.stopped = result.stopped or in_a_row >= FAILURES_IN_A_ROW
            if len(result.errors) < ERRORS_SHOWN:
                result.errors.append(str(error))
        if progress is not None:
            progress(result.copied + result.failed, len(todo))

    pool = ThreadPoolExecutor(threads, thread_name_prefix="copy-thumbs")
    try:
        for relpath in todo:
            if result.stopped:
                break
            if len(running) >= threads * QUEUED_PER_THREAD:
                settle(wait(running, return_when=FIRST_COMPLETED).done)
            running.add(pool.submit(_copy_one, root, store, relpath))
        while running:
            settle(wait(running, return_when=FIRST_COMPLETED).done)
    finally:
        # On Ctrl-C: what is queued is dropped, the puts under way end (each whole or not at all).
        pool.shutdown(wait=True, cancel_futures=True)
    return result


def _copy_one(root: Path, store: BucketStore, relpath: str) -> None:
    """Put one file (in a thread of the pool); StorageError when it cannot be read or put."""
    path = root / relpath
    try:
        data = path.read_bytes()
    except OSError as error:  # removed meanwhile (its photo failed), unreadable
        raise StorageError(f"could not read {path}: {error.strerror or error}") from error
    store.put(relpath, data)


def run(config: Config, *, threads: int = THREADS) -> int:
    """The command: copy THUMBS_DIR into THUMBS_BUCKET, say what was done; return the exit code."""
    if threads < 1:
        print(f"--threads must be at least 1, got {threads}.", file=sys.stderr)
        return 2
    if not config.thumbs_bucket:
        print("THUMBS_BUCKET is not set: name the bucket to copy the thumbnails into.", file=sys.stderr)
        return 2
    if not config.thumbs_dir.is_dir():
        missing = "is not a folder" if config.thumbs_dir.exists() else "does not exist"
        print(f"THUMBS_DIR {config.thumbs_dir} {missing}: nothing to copy from.", file=sys.stderr)
        return 2
    store = BucketStore(config.thumbs_bucket, prefix=config.thumbs_prefix or "")
    try:
        result = copy_thumbs(
            config.thumbs_dir, store, threads=threads, progress=ProgressBar(f"copied to {store.description}")
        )
    except StorageError as error:
        print(f"{error}. Nothing was copied.", file=sys.stderr)
        return 1
    except OSError as error:  # the walk of the folder, before any copy
        print(f"could not read {config.thumbs_dir}: {error}. Nothing was copied.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: what was copied stays; run the command again for the rest.", file=sys.stderr)
        return 130
    for message in result.errors:
        print(message, file=sys.stderr)
    if result.stopped:
        print(
            f"Stopped after {FAILURES_IN_A_ROW} failures in a row: run the command again once the bucket "
            "takes objects.",
            file=sys.stderr,
        )
    failed = f", failed {result.failed}" if result.failed else ""
    print(f"copied {result.copied}, already there {result.already}{failed}")
    return 1 if result.failed else 0
