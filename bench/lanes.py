"""The lanes suite: new photos do not wait behind a re-render (issue 20).

One real worker (1 process x 1 thread, as shipped, serving both lanes) on the system suite's
12 MP JPEGs, each new photo of bytes of its own (so none is a duplicate copied without a decode):

1. **alone**: new photos posted at RATE/s for WINDOW_S, nothing else queued: their queued ->
   completed p99, the baseline.
2. **capacity**: a burst of new photos queued at once: the worker's rate when it does nothing
   else.
3. **beside a re-render**: BACKLOG completed photos with renditions of older settings queued by
   `python -m service rerender` (its own lane), then new photos posted at RATE/s for WINDOW_S as
   in 1: their p99 against 1's, and what the re-render did meanwhile.
4. **re-render alone**: the new photos stop; the re-render's rate over RERENDER_S, against 2's.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.environment import Bench, bench_environment
from bench.report import Section, Target
from bench.reuse import distinct
from harness.polling import wait_until
from harness.service_processes import REPO, start_worker

RATE = 5.0
P99_TARGET = 2.0  # new photos' p99 beside the re-render, at most this times their p99 alone
SHARE_TARGET = 0.8  # the re-render's rate alone, at least this share of the worker's rate


def post_at_rate(bench: Bench, ids: list[str]) -> dict[str, float]:
    """Send one message per photo, RATE a second on a fixed schedule (a late send does not push
    the later ones back); the wall-clock time each was sent."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for index, photo_id in enumerate(ids):
        due = start + index / RATE
        # Pacing to a schedule, not waiting for a condition: the rate is the load asked for.
        time.sleep(max(0.0, due - time.monotonic()))
        sent[photo_id] = time.time()
        bench.actors.process_photo.send(photo_id)
    return sent


def latencies(bench: Bench, sent: dict[str, float]) -> list[float]:
    """Seconds from each photo's send to its `completed_at`, once all are completed, sorted."""
    ids = list(sent)
    wait_until(
        lambda: bench.completed(ids) == len(ids), timeout=1800, interval=0.1, message="new photos done"
    )
    rows = bench.db.execute_sql(
        "SELECT uuid::text, extract(epoch FROM completed_at) FROM photos WHERE uuid = ANY(%s::uuid[])", (ids,)
    ).fetchall()
    return sorted(float(done) - sent[photo_id] for photo_id, done in rows)


def p(values: list[float], share: float) -> float:
    """The `share` quantile of sorted `values` (nearest rank)."""
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def stale_backlog(bench: Bench, count: int) -> str:
    """`count` completed photos rendered with other settings (a fingerprint no settings have),
    each source of bytes of its own (the corpus files, salted by their path: else the re-render
    would copy each file's renditions to the photos that repeat it, without a decode); the time
    they were made, for `rerender --since`."""
    for index, data in enumerate(bench.files):
        bench.server.family(f"/lanes-backlog/{index}/", data)
    (since,) = bench.db.execute_sql("SELECT now()").fetchone()
    bench.db.execute_sql(
        "INSERT INTO photos (url, status, rendered_with, completed_at)"
        " SELECT %s || (n %% %s) || '/' || n || '.jpg', 'completed', 'older-settings', now()"
        " FROM generate_series(0, %s - 1) n",
        (bench.server.url("/lanes-backlog/"), len(bench.files), count),
    )
    return str(since.isoformat())


def rerendered(bench: Bench, since: float) -> int:
    """How many photos a re-render finished since the epoch second `since`."""
    (count,) = bench.db.execute_sql(
        "SELECT count(*) FROM photos WHERE rerendered_at >= to_timestamp(%s)", (since,)
    ).fetchone()
    return int(count)


def run(quick: bool) -> Section:
    """Measure the new lane's p99 beside a re-render backlog, and the re-render's share."""
    window_s = 30 if quick else 120
    backlog = 5_000 if quick else 100_000
    burst = 60 if quick else 200
    rerender_s = 20 if quick else 60
    new = int(window_s * RATE)
    section = Section("Lanes: new photos beside a re-render (issue 20)")
    with bench_environment() as bench:
        worker = start_worker(bench.env, bench.log_dir, supervised=False, name="lanes")
        try:
            warm = bench.insert_photos(4, "warm", files=distinct(bench, 4, "warm"))
            latencies(bench, post_at_rate(bench, warm))
            alone = latencies(bench, post_at_rate(bench, insert(bench, new, "alone")))

            ids = insert(bench, burst, "burst")
            started = time.perf_counter()
            for photo_id in ids:
                bench.actors.process_photo.send(photo_id)
            wait_until(lambda: bench.completed(ids) == len(ids), timeout=900, interval=0.05, message="burst")
            capacity = burst / (time.perf_counter() - started)

            since = stale_backlog(bench, backlog)
            queued = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "service", "rerender", "--since", since],
                cwd=REPO,
                env={"PATH": "/usr/bin:/bin", **bench.env},
                check=True,
                capture_output=True,
            )
            queue_s = time.perf_counter() - queued
            window_start = time.time()
            beside = latencies(bench, post_at_rate(bench, insert(bench, new, "beside")))
            window_end = time.time()
            during = rerendered(bench, window_start) / (window_end - window_start)
            # Only the re-render lane now: its rate over a window of its own.
            alone_start = time.time()
            before = rerendered(bench, alone_start)
            wait_until(lambda: time.time() - alone_start >= rerender_s, timeout=rerender_s + 5, interval=0.5)
            rerender_rate = (rerendered(bench, alone_start) - before) / (time.time() - alone_start)
        finally:
            worker.stop()
    ratio = p(beside, 0.99) / p(alone, 0.99)
    share = rerender_rate / capacity
    section.targets.append(
        Target(
            f"new photos' queued -> completed p99 beside a {backlog:,}-photo re-render / alone",
            f"{ratio:.2f}x",
            f"<= {P99_TARGET:.0f}x",
            ratio <= P99_TARGET,
            f"{new} photos at {RATE:.0f}/s: p99 {p(beside, 0.99) * 1000:.0f} ms beside, "
            f"{p(alone, 0.99) * 1000:.0f} ms alone",
        )
    )
    section.targets.append(
        Target(
            "re-render rate with no new photos / the worker's rate on new photos",
            f"{share:.2f}x",
            f">= {SHARE_TARGET}x",
            share >= SHARE_TARGET,
            f"{rerender_rate:.1f} against {capacity:.1f} photos/s",
        )
    )
    section.table(
        ["new photos", "p50", "p90", "p99", "max"],
        [
            [name, *(f"{p(values, q) * 1000:.0f} ms" for q in (0.5, 0.9, 0.99, 1.0))]
            for name, values in (("alone", alone), (f"beside the re-render of {backlog:,}", beside))
        ],
    )
    section.body.append(
        f"One worker process x 1 thread serving both lanes, 12 MP JPEG sources on 127.0.0.1. "
        f"`rerender` queued the {backlog:,} photos in {queue_s:.1f} s. While the new photos came at "
        f"{RATE:.0f}/s the re-render went on at {during:.1f} photos/s, the capacity they left. A new "
        "photo waits at most for the photo in hand: the worker's prefetched re-render messages sit "
        "behind it in Dramatiq's priority queue."
    )
    return section


def insert(bench: Bench, count: int, tag: str) -> list[str]:
    """`count` pending photos of bytes of their own."""
    return bench.insert_photos(count, tag, files=distinct(bench, count, tag))
