"""The ingest suite: `python -m service import` loading a file of 1,000,000 URLs.

- a file of one URL per line into an empty table, timed as an operator runs it (a subprocess,
  its start and the file's reading and checking included), against psql's `\\copy` of the same
  file into photos (url), the database's own floor, measured in the same run;
- the same file again with --skip-existing: it must add nothing;
- another 1,000,000 new URLs with --skip-existing onto those 1,000,000 photos: the check's cost
  where it finds nothing to leave out.

On a database and vhost of the run's own; no worker and no API run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.report import Section, Target
from harness import services
from harness.service_processes import REPO
from schema import migrations

COUNT = 1_000_000
TARGET_S = 60.0
SUMMARY = re.compile(r"imported (\d+), skipped (\d+) bad line\(s\), (\d+) already present")


def run(quick: bool) -> Section:
    """Time the three imports and the floor; the targets are the first two."""
    count = 100_000 if quick else COUNT
    made = services.create()
    work = Path(tempfile.mkdtemp(prefix="photo-processor-ingest-"))
    try:
        migrations.migrate({"dsn": made.pg_uri})
        env = {
            "PG_CONNECTION_URI": made.pg_uri,
            "AMQP_URI": made.amqp_uri,
            "THUMBS_DIR": str(work / "thumbs"),
            "LOG_FORMAT": "json",
        }
        first, second = work / "first.txt", work / "second.txt"
        _write_urls(first, count, "a")
        _write_urls(second, count, "b")
        floor_s = _psql_copy(made.pg_uri, first)
        _sql(made.pg_uri, "TRUNCATE photos CASCADE")
        plain_s, plain = _import(env, first)
        again_s, again = _import(env, first, "--skip-existing")
        more_s, more = _import(env, second, "--skip-existing")
        rows = _sql(made.pg_uri, "SELECT count(*), count(DISTINCT url) FROM photos")
    finally:
        services.drop(made)
        shutil.rmtree(work, ignore_errors=True)
    if plain != (count, 0, 0) or again != (0, 0, count) or more != (count, 0, 0) or rows != (2 * count,) * 2:
        raise RuntimeError(f"the imports did not add what they should: {plain} {again} {more} {rows}")
    return _section(count, floor_s, plain_s, again_s, more_s)


def _write_urls(path: Path, count: int, tag: str) -> None:
    """`count` distinct URLs, one per line, of the lengths a CDN's photo URLs have (70-80 bytes)."""
    with path.open("w") as out:
        for n in range(count):
            out.write(
                f"https://images.example.com/{tag}/{n % 997:03d}/{n:08d}-{(n * 7919) % 1000003:07x}.jpg\n"
            )


def _import(env: dict[str, str], path: Path, *options: str) -> tuple[float, tuple[int, int, int]]:
    """Seconds of `python -m service import PATH OPTIONS`, and its summary's three numbers."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "service", "import", *options, str(path)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = time.perf_counter() - started
    found = SUMMARY.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"import failed ({done.returncode}): {done.stdout[-300:]} {done.stderr[-300:]}")
    imported, bad, present = (int(group) for group in found.groups())
    return elapsed, (imported, bad, present)


def _psql_copy(pg_uri: str, path: Path) -> float:
    """Seconds of psql's `\\copy photos (url)` of the file: one COPY, no checks, the database's floor."""
    started = time.perf_counter()
    subprocess.run(
        ["psql", pg_uri, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy photos (url) from '{path}'"],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return time.perf_counter() - started


def _sql(pg_uri: str, statement: str) -> tuple[int, ...]:
    """Run one statement on the run's database; its first row (empty when it returns none)."""
    connection = psycopg2.connect(pg_uri)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return tuple(cursor.fetchone() or ()) if cursor.description else ()
    finally:
        connection.close()


def _section(count: int, floor_s: float, plain_s: float, again_s: float, more_s: float) -> Section:
    section = Section("Ingest: python -m service import")
    section.targets = [
        Target(
            f"python -m service import, {count:,} URLs (one per line)",
            f"{plain_s:.1f} s ({count / plain_s:,.0f} URLs/s)",
            f"≤ {TARGET_S:.0f} s",
            plain_s <= TARGET_S,
        ),
        Target(
            "the same file again with --skip-existing",
            f"{again_s:.1f} s ({count / again_s:,.0f} URLs/s), 0 added",
            f"0 added, ≤ {TARGET_S:.0f} s",
            again_s <= TARGET_S,
        ),
    ]
    section.table(
        ["run", "seconds", "URLs/s", "against psql's \\copy"],
        [
            [label, f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{seconds / floor_s:.2f}"]
            for label, seconds in (
                ("psql `\\copy photos (url)` of the file (the floor: one COPY, no checks)", floor_s),
                ("`import FILE` into an empty table", plain_s),
                (f"`import --skip-existing FILE` again: {count:,} already present, 0 added", again_s),
                (f"`import --skip-existing` of {count:,} other URLs onto those {count:,}", more_s),
            )
        ],
    )
    section.body.append(
        "Each import is a subprocess, timed from its start to its summary: reading, checking every URL, "
        "COPY in batches of 100,000 (a transaction each). The command makes the photos' UUIDs itself, "
        "random and sorted per batch, so the primary key fills in order; psql's single COPY leaves them "
        "to gen_random_uuid, one random page of the key per row. --skip-existing COPYs each batch into "
        "a temporary table first and joins it with photos (the batch hashed, photos scanned once per "
        "batch: photos.url has no index)."
    )
    return section
