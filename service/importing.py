"""`python -m service import FILE`: add photos by URL from a file, in batches loaded with COPY.

Each batch is its own transaction: an import that stops keeps the batches it loaded, and
`--skip-existing` run again adds only the rest. Without options a batch is COPY'd straight into
photos. With `--skip-existing` or `--process` it is COPY'd into a temporary table first, then
inserted from there: leaving out the URLs photos already holds (any status) and the batch's own
repeats, by a hash anti-join over the batch (photos.url has no index: at a million photos one
scan per batch of 50,000 costs less than keeping an index on every insert), and returning the new
photos' UUIDs to queue. Two `--skip-existing` imports never run at once on one database (an
advisory lock): each would miss the other's URLs.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from peewee import Database

from service.import_formats import Record

BATCH_SIZE = 50_000
# Bad lines printed one each; past this, only counted.
BAD_LINES_SHOWN = 100
# Held for the length of an `import --skip-existing` (pg_try_advisory_lock's key: "impo").
SKIP_EXISTING_LOCK = 0x696D706F

# Sends one confirmed message per photo and marks them queued (service/publishing.send_all,
# bound to a publisher); raises PublishInterrupted when the broker fails.
Queue = Callable[[list[str]], list[str]]


@dataclass
class ImportResult:
    """What one run did, counted in lines of data (blank and comment lines are not counted)."""

    imported: int = 0
    bad: int = 0
    present: int = 0  # already in photos, or earlier in the file (--skip-existing)
    queued: int = 0
    lines: int = 0  # the last line number read


class AnotherImportRunning(RuntimeError):
    """Raised when another `import --skip-existing` holds the lock on this database."""


class BadLineReport:
    """Writes each bad line, `line N: problem: text`, up to `shown`; then only counts them."""

    def __init__(self, stream: Any = sys.stderr, shown: int = BAD_LINES_SHOWN) -> None:
        self._stream = stream
        self._shown = shown
        self.count = 0

    def __call__(self, number: int, problem: str) -> None:
        self.count += 1
        if self.count <= self._shown:
            self._stream.write(f"line {number}: {problem}\n")

    def close(self) -> None:
        """Say how many were not shown."""
        if self.count > self._shown:
            self._stream.write(f"... and {self.count - self._shown} more bad line(s)\n")


def import_urls(
    db: Database,
    rows: Iterable[Record],
    *,
    skip_existing: bool = False,
    queue: Queue | None = None,
    batch_size: int = BATCH_SIZE,
    bad_line: Callable[[int, str], None] = lambda number, problem: None,
    progress: Callable[[ImportResult], None] | None = None,
    result: ImportResult | None = None,
) -> ImportResult:
    """Insert a photo per good URL of `rows`, a batch at a time; count the rest.

    `result` is filled as batches commit, so that a caller whose import was cut (a read error, the
    broker failing) can say what was done. PublishInterrupted when `queue` fails: the photos of
    the batches committed stay pending."""
    result = result if result is not None else ImportResult()
    loader = _Loader(db, skip_existing=skip_existing, returning=queue is not None)
    with db.connection_context():
        if (
            skip_existing
            and not db.execute_sql("SELECT pg_try_advisory_lock(%s)", (SKIP_EXISTING_LOCK,)).fetchone()[0]
        ):
            raise AnotherImportRunning("another `import --skip-existing` is running on this database")
        try:
            batch: list[str] = []
            for number, url, problem in rows:
                result.lines = number
                if url is None or problem is not None:
                    result.bad += 1
                    bad_line(number, problem or "no URL")
                    continue
                batch.append(url)
                if len(batch) >= batch_size:
                    _load(loader, batch, result, queue, progress)
                    batch = []
            if batch:
                _load(loader, batch, result, queue, progress)
        finally:
            if skip_existing:
                db.execute_sql("SELECT pg_advisory_unlock(%s)", (SKIP_EXISTING_LOCK,))
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
    inserted = len(new_ids) if isinstance(new_ids, list) else new_ids
    result.imported += inserted
    result.present += len(urls) - inserted
    if queue is not None and isinstance(new_ids, list):
        for start in range(0, len(new_ids), 1000):
            result.queued += len(queue(new_ids[start : start + 1000]))
    if progress is not None:
        progress(result)


class _Loader:
    """Loads batches of URLs into photos on one connection, one transaction per batch."""

    def __init__(self, db: Database, *, skip_existing: bool, returning: bool) -> None:
        self._db = db
        self._staged = skip_existing or returning
        self._insert = (
            "INSERT INTO photos (url) SELECT "
            + (
                "DISTINCT url FROM import_batch b WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.url = b.url)"
                if skip_existing
                else "url FROM import_batch"
            )
            + (" RETURNING uuid" if returning else "")
        )
        self._returning = returning
        self._table_made = False

    def load(self, urls: list[str]) -> list[str] | int:
        """COPY `urls` in; the new photos' UUIDs when returning them, else how many were added."""
        data = io.StringIO("\n".join(_escaped(urls)) + "\n")
        with self._db.atomic():
            cursor = self._db.cursor()
            if not self._staged:
                cursor.copy_expert("COPY photos (url) FROM STDIN", data, size=1 << 20)
                return cursor.rowcount
            if not self._table_made:
                # Emptied at each commit; the session's own, gone with the connection.
                cursor.execute(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS import_batch (url text) ON COMMIT DELETE ROWS"
                )
                self._table_made = True
            cursor.copy_expert("COPY import_batch (url) FROM STDIN", data, size=1 << 20)
            cursor.execute("ANALYZE import_batch")  # its size, for the planner to hash the batch
            cursor.execute(self._insert)
            if self._returning:
                return [str(row[0]) for row in cursor.fetchall()]
            return cursor.rowcount


def _escaped(urls: list[str]) -> Iterable[str]:
    """The URLs as fields of COPY's text format: a valid URL has no tab, newline or control
    character, so only a backslash needs escaping."""
    return (url.replace("\\", "\\\\") if "\\" in url else url for url in urls)
