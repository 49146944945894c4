"""Shared by the fault tests (crashes, outages, concurrency, hostile sources): processes of their
own, and the ledger of faults injected and photos followed, audited at the end of each module.

The ledger's figures (faults injected, photos lost, stuck, with duplicate rows) are asserted
at the end of every module and written to test-artifacts/reliability-summary.json.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from peewee import Database

from harness import proc_tree, service_processes
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import REPO, ServiceProcess, start_worker
from pipeline.locks import lock_key
from tests.support.data import DEFAULT_RENDITIONS, kept_and_counted

SUMMARY = REPO / "test-artifacts" / "reliability-summary.json"
TERMINAL = ("completed", "failed")


@dataclass
class Ledger:
    """What the fault tests did: faults by kind, and each photo with the status it must end in."""

    faults: Counter[str] = field(default_factory=Counter)
    photos: dict[str, str] = field(default_factory=dict)  # photo UUID -> expected final status


LEDGER = Ledger()


def fault(kind: str, count: int = 1) -> None:
    """Record a fault injected (a kill, a cut connection, a hostile source…)."""
    LEDGER.faults[kind] += count


def expect(photo_id: str, status: str) -> str:
    """Follow a photo: at the end of the module it must be in `status` (completed or failed)."""
    assert status in TERMINAL
    LEDGER.photos[photo_id] = status
    return photo_id


def audit(database: Database, module: str, image_server: ImageServer) -> dict[str, int]:
    """Check every followed photo: none lost (still pending), none stuck ('processing'), none with
    a rendition row more or less than it should have (DEFAULT_RENDITIONS if completed, none if
    failed); record figures,
    the most downloads of one photo's source among them."""
    figures: Counter[str] = Counter()
    problems = []
    for photo_id, expected in LEDGER.photos.items():
        found = database.execute_sql(
            "SELECT status::text, (SELECT count(*) FROM photo_thumbnails t WHERE t.photo_uuid = p.uuid), url"
            " FROM photos p WHERE uuid = %s",
            (photo_id,),
        ).fetchone()
        status, rows, url = found if found else ("missing", 0, "")
        if url.startswith(image_server.base_url + "/"):
            fetches = image_server.hits(url.removeprefix(image_server.base_url))
            figures["max_fetches_per_photo"] = max(figures["max_fetches_per_photo"], fetches)
        figures["photos"] += 1
        figures["lost"] += status in ("pending", "missing")
        figures["stuck"] += status == "processing"
        figures["duplicate_rows"] += max(0, rows - DEFAULT_RENDITIONS)
        figures["wrong_outcome"] += status != expected
        if status != expected or rows != (DEFAULT_RENDITIONS if expected == "completed" else 0):
            problems.append(f"{photo_id}: {status} with {rows} rendition rows, expected {expected}")
    counts, counted = kept_and_counted(database)
    if counts != counted:
        problems.append(f"photo_counts {counts} differ from count(*) {counted}")
    figures["faults"] = sum(LEDGER.faults.values())
    _write_summary(module, figures)
    LEDGER.photos.clear()
    LEDGER.faults.clear()
    assert not problems, "photos not as expected at the end of the module:\n" + "\n".join(problems)
    assert (figures["lost"], figures["stuck"], figures["duplicate_rows"]) == (0, 0, 0)
    return dict(figures)


def _write_summary(module: str, figures: Counter[str]) -> None:
    """Add the module's figures to test-artifacts/reliability-summary.json (kept across modules)."""
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    modules = summary.get("modules", {})
    modules[module] = {"faults_by_kind": dict(sorted(LEDGER.faults.items())), **figures}
    totals: Counter[str] = Counter()
    for entry in modules.values():
        totals.update({k: v for k, v in entry.items() if isinstance(v, int) and not k.startswith("max_")})
        for key in (k for k in entry if k.startswith("max_")):
            totals[key] = max(totals[key], entry[key])
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(json.dumps({"totals": dict(sorted(totals.items())), "modules": modules}, indent=2))


# --- processes ---------------------------------------------------------------------------------


HELD: list[threading.Event] = []


def hold(image_server: ImageServer, path: str) -> threading.Event:
    """Hold downloads of `path` until the event is set (at the latest when a worker is stopped)."""
    gate = image_server.hold(path)
    HELD.append(gate)
    return gate


@contextmanager
def running(process: ServiceProcess) -> Iterator[ServiceProcess]:
    """Show the process's log if a test fails; stop it at the end, and anything it left behind."""
    below: list[int] = []
    try:
        with service_processes.running(process):
            try:
                yield process
            finally:
                while HELD:  # a test that failed half-way must not leave a download hanging
                    HELD.pop().set()
                below = proc_tree.descendants(process.pid)
    finally:
        proc_tree.kill_all(below)  # honcho's children live in sessions of their own


def fresh_worker(env: dict[str, str], log_dir: Path, **options: Any) -> ServiceProcess:
    """`start_worker`, with the log of any earlier worker of the module moved aside first, so
    that what the tests read in the log is this worker's alone."""
    log = log_dir / "worker.log"
    if log.exists():
        log.rename(log_dir / f"worker.{len(list(log_dir.glob('worker.*.log'))) + 1}.log")
    return start_worker(env, log_dir, **options)


def wait_for_workers(process: ServiceProcess, count: int = 1, *, timeout: float = 30) -> list[int]:
    """Wait until the Dramatiq master below `process` has `count` worker processes; return them."""

    def workers() -> list[int]:
        pids = proc_tree.dramatiq_workers(process.pid)
        return pids if len(pids) == count else []

    return wait_until(
        workers, timeout=timeout, message=f"{count} dramatiq worker process(es) below {process.name}"
    )


def lock_held(database: Database, photo_id: str) -> bool:
    """Whether any session holds the photo's advisory lock (a live worker works on it)."""
    key = lock_key(UUID(photo_id))
    return bool(
        database.execute_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            " AND ((classid::bigint << 32) | objid::bigint) = %s",
            (key,),
        ).fetchone()[0]
    )


def thumbnail_files(thumbs_dir: Path, photo_id: str) -> list[Path]:
    """Every file of the photo below THUMBS_DIR, finished or temporary: its renditions (in its
    own folder) and its thumbnail from before renditions."""
    folder = thumbs_dir / photo_id[:2]
    legacy = sorted(folder.glob(f"{photo_id}.*")) + sorted(folder.glob(f".{photo_id}.*"))
    return legacy + sorted(path for path in (folder / photo_id).glob("*") if path.is_file())


def rendition_paths(thumbs_dir: Path, row: dict[str, Any]) -> list[Path]:
    """The files the photo's rows (photo_row's "renditions") name, in thumbnail_files' order."""
    return sorted(thumbs_dir / url for *_, url in row["renditions"])
