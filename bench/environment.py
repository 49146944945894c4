"""The system suite's surroundings: a database and vhost of the run's own, an image server on
127.0.0.1 serving the corpus's 12 MP JPEGs, and the settings that point the processes at them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import Database

from bench import corpus
from config import load_config
from harness import services
from harness.imageserver import ImageServer
from models import init_db
from schema import migrations


@dataclass
class Bench:
    """What every measure of the suite shares: services, settings, image server, database."""

    env: dict[str, str]
    db: Database
    server: ImageServer
    files: list[bytes]
    log_dir: Path
    actors: Any  # the actors package, imported with `env`

    def insert_photos(
        self, count: int, tag: str, *, delay_s: float = 0.0, files: list[bytes] | None = None
    ) -> list[str]:
        """`count` pending photos whose URLs cycle through `files` (the corpus files by default),
        each served `delay_s` late (a remote source's first-byte latency)."""
        files = files or self.files
        urls = []
        for index in range(count):
            path = f"/{tag}/{index}.jpg"
            self.server.image(path, files[index % len(files)], delay_s=delay_s)
            urls.append(self.server.url(path))
        rows = self.db.execute_sql(
            "INSERT INTO photos (url) SELECT unnest(%s::text[]) RETURNING uuid", (urls,)
        ).fetchall()
        return [str(row[0]) for row in rows]

    def completed(self, ids: list[str]) -> int:
        """How many of `ids` are completed (a failure stops the run: figures would lie)."""
        rows = self.db.execute_sql(
            "SELECT status::text, count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) GROUP BY status", (ids,)
        ).fetchall()
        counts = dict(rows)
        if counts.get("failed"):
            raise RuntimeError(f"{counts['failed']} bench photos failed; see {self.log_dir}")
        return int(counts.get("completed", 0))


@contextmanager
def bench_environment() -> Iterator[Bench]:
    """A database and vhost of the run's own, an image server, and the settings pointing at them."""
    made = services.create()
    server = ImageServer().start()
    work = Path(tempfile.mkdtemp(prefix="photo-processor-bench-"))
    try:
        migrations.migrate({"dsn": made.pg_uri})
        env = {
            "PG_CONNECTION_URI": made.pg_uri,
            "AMQP_URI": made.amqp_uri,
            "THUMBS_DIR": str(work / "thumbs"),
            "ALLOW_PRIVATE_SOURCES": "1",
            "LOG_FORMAT": "json",
            "WORKER_METRICS_PORT": "0",
            "dramatiq_prom_db": str(work / "metrics"),
        }
        os.environ.update(env)  # the actors package builds its broker from the environment
        import actors

        baseline = {f"jpeg-12mp-{index}.jpg" for index in range(3)}  # not rotated, not progressive
        files = [spec.path.read_bytes() for spec in corpus.ensure(log=False) if spec.name in baseline]
        db = init_db(load_config(env))
        yield Bench(env=env, db=db, server=server, files=files, log_dir=work, actors=actors)
    finally:
        server.stop()
        services.drop(made)
