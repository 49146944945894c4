"""The reuse suite: what duplicates and kept originals save (issue 20).

One real worker (1 process x 1 thread, as shipped) on the system suite's 12 MP JPEGs, made
distinct by a few bytes after their end marker (Pillow ignores them; the hash does not):

- **dedupe**: a batch whose every source is distinct, against one of the same size in which
  30 % of the sources repeat earlier ones (the same bytes at other URLs); the saving is the
  share of the batch's time the copies spared.
- **originals**: completed photos re-rendered to new settings with their sources 100 ms away
  (a remote source's first byte), downloading them again, against reading the kept originals
  (KEEP_ORIGINALS=1); and what keeping them costs the first processing.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.environment import Bench, bench_environment
from bench.report import Section, Target
from config import load_config
from harness.polling import wait_until
from harness.service_processes import REPO, start_worker
from pipeline.render_settings import RenderSettings

REPEATED = 0.3
LATENCY_S = 0.1
DEDUPE_TARGET = 0.2  # the copies of 30 % repeats should spare at least 20 % of the time
RERENDER_SETTINGS = {"RENDITIONS": "sm:160,thumb:320,md:640"}


def distinct(bench: Bench, count: int, salt: str) -> list[bytes]:
    """`count` sources of the corpus, each of bytes of its own."""
    return [bench.files[i % len(bench.files)] + f"\0{salt}-{i}".encode() for i in range(count)]


def with_repeats(bench: Bench, count: int, salt: str) -> list[bytes]:
    """`count` sources of which REPEATED repeat an earlier one of the batch."""
    unique = distinct(bench, count - round(count * REPEATED), salt)
    repeats = [unique[i % len(unique)] for i in range(count - len(unique))]
    # Each repeat after its first: spread through the batch, not all at the end.
    batch: list[bytes] = []
    for index, source in enumerate(unique):
        batch.append(source)
        if index % 3 == 2 and repeats:
            batch.append(repeats.pop(0))
    return batch + repeats


def process(bench: Bench, files: list[bytes], tag: str, *, delay_s: float = 0.0) -> tuple[list[str], float]:
    """Send every photo and wait for all completed; their ids and the seconds it took."""
    ids = bench.insert_photos(len(files), tag, files=files, delay_s=delay_s)
    started = time.perf_counter()
    for photo_id in ids:
        bench.actors.process_photo.send(photo_id)
    wait_until(lambda: bench.completed(ids) == len(ids), timeout=900, interval=0.05, message=f"{tag} done")
    return ids, time.perf_counter() - started


def rerender(bench: Bench, env: dict[str, str], ids: list[str]) -> float:
    """Seconds to re-render the photos `ids` to `env`'s settings, from the queueing on."""
    fingerprint = RenderSettings.from_config(load_config(env)).fingerprint
    (since,) = bench.db.execute_sql(
        "SELECT min(created_at) FROM photos WHERE uuid = ANY(%s::uuid[])", (ids,)
    ).fetchone()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "service", "rerender", "--since", since.isoformat()],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        check=True,
        capture_output=True,
    )

    def done() -> bool:
        (count,) = bench.db.execute_sql(
            "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND rendered_with = %s",
            (ids, fingerprint),
        ).fetchone()
        return int(count) == len(ids)

    wait_until(done, timeout=900, interval=0.05, message="re-rendered")
    return time.perf_counter() - started


def run(quick: bool) -> Section:
    """Measure the dedupe saving and the re-render rate with and without originals."""
    count = 20 if quick else 60
    section = Section("Reuse: duplicates and kept originals (issue 20)")
    with bench_environment() as bench:
        figures: dict[str, float] = {}
        for keep in ("0", "1"):
            env = {**bench.env, "KEEP_ORIGINALS": keep}
            worker = start_worker(env, bench.log_dir, supervised=False, name=f"reuse-keep{keep}")
            try:
                process(bench, distinct(bench, 4, f"warm{keep}"), f"warm{keep}")
                if keep == "0":
                    _, figures["distinct_s"] = process(bench, distinct(bench, count, "d"), "distinct")
                    _, figures["repeats_s"] = process(bench, with_repeats(bench, count, "r"), "repeats")
                ids, figures[f"first_keep{keep}_s"] = process(
                    bench, distinct(bench, count, f"k{keep}"), f"keep{keep}", delay_s=LATENCY_S
                )
            finally:
                worker.stop()
            again = {**env, **RERENDER_SETTINGS}
            worker = start_worker(again, bench.log_dir, supervised=False, name=f"reuse-rerender{keep}")
            try:
                figures[f"rerender_keep{keep}_s"] = rerender(bench, again, ids)
            finally:
                worker.stop()
    saving = 1 - figures["repeats_s"] / figures["distinct_s"]
    without = count / figures["rerender_keep0_s"]
    with_originals = count / figures["rerender_keep1_s"]
    keep_cost = figures["first_keep1_s"] / figures["first_keep0_s"]
    section.targets.append(
        Target(
            "dedupe: time spared on a batch with 30 % repeated bytes",
            f"{saving:.0%}",
            f">= {DEDUPE_TARGET:.0%}",
            saving >= DEDUPE_TARGET,
            f"{count} photos: {figures['distinct_s']:.1f} s all distinct, {figures['repeats_s']:.1f} s with repeats",
        )
    )
    section.targets.append(
        Target(
            "re-render rate, originals kept / downloaded again (sources 100 ms away)",
            f"{with_originals / without:.2f}x",
            "> 1 (measured)",
            with_originals > without,
            f"{with_originals:.1f} photos/s from originals, {without:.1f} photos/s downloading",
        )
    )
    section.body.append(
        f"Keeping originals costs the first processing {keep_cost:.2f}x its time (one more write per "
        f"photo: {figures['first_keep1_s']:.1f} s against {figures['first_keep0_s']:.1f} s for {count} "
        "photos), and the store the sources' bytes (here 12 MP JPEGs of about 4 MB, against about 30 KB "
        "of renditions each). One worker process x 1 thread, the folder store; the re-render adds a "
        "640 px preset, so it decodes at a larger scale than the first processing."
    )
    return section
