"""`python -m service import FILE`: add photos by URL from a file, in batches loaded with COPY.

Each batch is its own transaction: an import that stops keeps the batches it loaded, and
`--skip-existing` run again adds only the rest. A batch is COPY'd into photos with UUIDs made
here (random, version 4, as gen_random_uuid makes them), sorted: the primary key is then filled a
page at a time, and `--process` knows the photos to queue without reading them back. With
`--skip-existing` the batch is first COPY'd into a temporary table and joined with photos (the
batch hashed, photos scanned once per batch: photos.url has no index; bench/ingest.py measures
it at a million photos); the URLs found there (any status)
and the batch's own repeats are left out. Two `--skip-existing` imports never run at once on one
database (an advisory lock): each would miss the other's URLs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from peewee import Database

from pipeline.locks import advisory_lock
from publishing import PublishInterrupted
from service.import_formats import Record

BATCH_SIZE = 100_000
# Photos per confirmed publish with --process (as process-pending's pages).
QUEUE_BATCH = 1000
# Held for the length of an `import --skip-existing` (pg_try_advisory_lock's key: "impo").
SKIP_EXISTING_LOCK = 0x696D706F

# Sends one confirmed message per photo and marks them queued (service/publishing.send_all,
# bound to a publisher); raises PublishInterrupted when the broker fails.
Queue = Callable[[list[str]], list[str]]


@dataclass
class ImportResult:
    """What one run did: photos and bad lines counted, and how far the file was read."""

    imported: int = 0
    bad: int = 0
    present: int = 0  # already in photos, or earlier in the file (--skip-existing)
    queued: int = 0
    lines: int = 0  # the number of the last line of data read, as an editor numbers lines
    read_all: bool = False  # the file was read to its end


class AnotherImportRunning(RuntimeError):
    """Raised when another `import --skip-existing` holds the lock on this database."""


def import_urls(
    db: Database,
    rows: Iterable[Record],
    *,
    skip_existing: bool = False,
    queue: Queue | None = None,
    batch_size: int = BATCH_SIZE,
    bad_line: Callable[[int, int, str], None] = lambda number, last, problem: None,
    progress: Callable[[ImportResult], None] | None = None,
    result: ImportResult | None = None,
) -> ImportResult:
    """Insert a photo per good URL of `rows`, a batch at a time; count the rest.

    `result` is filled as batches commit, so that a caller whose import was cut (a read error, the
    broker failing) can say what was done. PublishInterrupted when `queue` fails: the photos of
    the batches committed stay pending."""
    result = result if result is not None else ImportResult()
    loader = _Loader(db, skip_existing=skip_existing)
    with db.connection_context():
        # The API's DB_STATEMENT_TIMEOUT_MS (applied to every connection) would cut a batch's COPY,
        # and the --skip-existing join, on a large table or a busy database: the command has none.
        db.execute_sql("SET statement_timeout = 0")
        lock = advisory_lock(db, SKIP_EXISTING_LOCK) if skip_existing else nullcontext(True)
        with lock as held:
            if not held:
                raise AnotherImportRunning("another `import --skip-existing` is running on this database")
            batch: list[str] = []
            for number, url, problem, last in rows:
                result.lines = last
                if url is None or problem is not None:
                    result.bad += last - number + 1
                    bad_line(number, last, problem or "no URL")
                    continue
                batch.append(url)
                if len(batch) >= batch_size:
                    _load(loader, batch, result, queue, progress)
                    batch = []
            result.read_all = True
            if batch:
                _load(loader, batch, result, queue, progress)
    return result


def _load(
    loader: _Loader,
    urls: list[str],
    result: ImportResult,
    queue: Queue | None,
    progress: Callable[[ImportResult], None] | None,
) -> None:
    """Load one batch, then queue its photos (once committed: the worker must see them)."""
    new_ids = loader.load(urls)
    result.imported += len(new_ids)
    result.present += len(urls) - len(new_ids)
    if queue is not None:
        for start in range(0, len(new_ids), QUEUE_BATCH):
            try:
                result.queued += len(queue(new_ids[start : start + QUEUE_BATCH]))
            except PublishInterrupted as interrupted:  # the confirmed part of the page is queued
                result.queued += len(interrupted.queued)
                raise
    if progress is not None:
        progress(result)


class _Loader:
    """Loads batches of URLs into photos on one connection, one transaction per batch."""

    def __init__(self, db: Database, *, skip_existing: bool) -> None:
        self._db = db
        self._skip_existing = skip_existing
        self._table_made = False

    def load(self, urls: list[str]) -> list[str]:
        """Insert a photo per URL (with --skip-existing, per URL new to photos); their UUIDs."""
        with self._db.atomic():
            cursor = self._db.cursor()
            if self._skip_existing:
                urls = self._new(cursor, urls)
            photo_ids = _sorted_uuids(len(urls))
            rows = "".join(
                f"{photo_id}\t{_escaped(url)}\n" for photo_id, url in zip(photo_ids, urls, strict=True)
            )
            cursor.copy_expert("COPY photos (uuid, url) FROM STDIN", io.StringIO(rows), size=1 << 20)
        return photo_ids

    def _new(self, cursor: Any, urls: list[str]) -> list[str]:
        """The URLs of `urls` photos does not hold, each once, in their order."""
        if not self._table_made:
            # Emptied at each commit; the session's own, gone with the connection.
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS import_batch (url text) ON COMMIT DELETE ROWS;"
                " SET work_mem = '64MB'; SET jit = off"
            )
            self._table_made = True
        data = io.StringIO("".join(f"{_escaped(url)}\n" for url in urls))
        cursor.copy_expert("COPY import_batch (url) FROM STDIN", data, size=1 << 20)
        cursor.execute("ANALYZE import_batch")  # its size: the planner then hashes it, not photos
        cursor.execute("SELECT DISTINCT b.url FROM import_batch b JOIN photos p ON p.url = b.url")
        present = {row[0] for row in cursor.fetchall()}
        return [url for url in dict.fromkeys(urls) if url not in present]


def _sorted_uuids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs, in order: inserted in key order, a batch fills the
    primary key's pages one after another instead of touching a random page per row (by hand, a
    batch of 50,000 COPY'd onto a million photos: 0.5 to 1.0 s, against 1.5 to 2.2 s with
    gen_random_uuid's, with other work on the machine)."""
    raw = os.urandom(16 * count)
    numbers = sorted(
        (int.from_bytes(raw[at : at + 16]) & _RANDOM_BITS) | _VERSION_4 for at in range(0, 16 * count, 16)
    )
    texts = []
    for number in numbers:
        hex32 = f"{number:032x}"
        texts.append(f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}")
    return texts


# Version 4 (random) in bits 76-79, the RFC 4122 variant in bits 62-63; the rest random.
_RANDOM_BITS = ((1 << 128) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_VERSION_4 = (0x4 << 76) | (0x2 << 62)


def _escaped(url: str) -> str:
    """A URL as a field of COPY's text format: a valid URL has no tab, newline or control
    character, so only a backslash needs escaping."""
    return url.replace("\\", "\\\\") if "\\" in url else url
