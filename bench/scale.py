"""The scale suite: what grows with the work rather than with a photo.

- enqueueing: POST /photos/process with 1000 UUIDs (confirms on, one batch), and
  `python -m service process-pending` over 100,000 pending photos, as a rate;
- reading: GET /stats and GET /photos/pending?limit=100 with 10,000, 100,000 and 1,000,000
  photos in the table (a flat line is the goal), plotted to bench/scale.png.

Through gunicorn as the Procfile runs it, on a database and vhost of the run's own; no worker
runs, so the figures are the API's and the database's alone.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.environment import Bench, bench_environment
from bench.report import Section, Target, median_ms
from bench.system import post_1000
from harness.queue import QueueProbe
from harness.service_processes import REPO, start_api

SIZES = (10_000, 100_000, 1_000_000)
FIGURE = Path(__file__).with_name("scale.png")


def run(quick: bool) -> Section:
    """Measure enqueueing and the reads at each table size; plot the reads."""
    sizes = SIZES[:2] if quick else SIZES
    with bench_environment() as bench:
        Path(bench.env["THUMBS_DIR"]).mkdir(parents=True)  # the worker's to make; none runs here
        api_process, api = start_api(bench.env, bench.log_dir)
        try:
            posts = post_1000(bench, api, rounds=3 if quick else 5)
            bulk_count = 10_000 if quick else 100_000
            bulk_rate = _process_pending_rate(bench, bulk_count)
            reads = _reads_by_size(bench, api, sizes, requests_count=20 if quick else 100)
        finally:
            api_process.stop()
    _plot(reads)
    return _section(posts, bulk_count, bulk_rate, reads)


def _process_pending_rate(bench: Bench, count: int) -> float:
    """Messages per second of `python -m service process-pending` over `count` pending photos."""
    bench.db.execute_sql(
        "INSERT INTO photos (url) SELECT 'http://127.0.0.1:9/' || n FROM generate_series(1, %s) n", (count,)
    )
    probe = QueueProbe(bench.env["AMQP_URI"])
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "service", "process-pending"],
            cwd=REPO,
            env={**os.environ, **bench.env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or f"{count} pending photo(s) queued" not in done.stdout:
            raise RuntimeError(f"process-pending failed: {done.stdout[-300:]} {done.stderr[-300:]}")
        probe.purge()
    finally:
        probe.close()
        bench.db.execute_sql("TRUNCATE photos CASCADE")
    return count / elapsed


def _reads_by_size(
    bench: Bench, api: str, sizes: tuple[int, ...], requests_count: int
) -> dict[int, dict[str, float]]:
    """Median ms of GET /stats and of GET /photos/pending?limit=100 with each number of photos."""
    session = requests.Session()
    reads: dict[int, dict[str, float]] = {}
    present = 0
    for size in sizes:
        # A fifth completed, the rest pending; created over the last hours, as a real table. In
        # chunks, each well within the statement timeout.
        for start in range(present + 1, size + 1, 100_000):
            bench.db.execute_sql(
                "INSERT INTO photos (url, status, created_at)"
                " SELECT 'http://127.0.0.1:9/' || n,"
                " CASE WHEN n %% 5 = 0 THEN 'completed' ELSE 'pending' END::photo_status,"
                " now() - make_interval(secs => n / 100.0) FROM generate_series(%s, %s) n",
                (start, min(start + 99_999, size)),
            )
        present = size
        bench.db.execute_sql("VACUUM ANALYZE photos")
        reads[size] = {
            "stats": median_ms(_timed(session, f"{api}/stats", requests_count, expect_total=size)),
            "pending": median_ms(_timed(session, f"{api}/photos/pending?limit=100", requests_count)),
        }
    bench.db.execute_sql("TRUNCATE photos CASCADE")
    return reads


def _timed(
    session: requests.Session, url: str, count: int, *, expect_total: int | None = None
) -> list[float]:
    """Seconds per GET of `url`, after one untimed warm-up."""
    timings = []
    for _ in range(count + 1):
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
        if expect_total is not None and response.json()["total"] != expect_total:
            raise RuntimeError(f"/stats counted {response.json()['total']}, not {expect_total}")
    return timings[1:]


def _plot(reads: dict[int, dict[str, float]]) -> None:
    """The two reads' medians against the table's size, on a log scale of rows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    sizes = sorted(reads)
    for key, label in (("stats", "GET /stats"), ("pending", "GET /photos/pending?limit=100")):
        axes.plot(sizes, [reads[size][key] for size in sizes], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_xlabel("photos in the table")
    axes.set_ylabel("median ms per request")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(FIGURE)
    pyplot.close(figure)


def _section(
    posts: list[float], bulk_count: int, bulk_rate: float, reads: dict[int, dict[str, float]]
) -> Section:
    largest = max(reads)
    section = Section("Scale: enqueueing, and reads as the table grows")
    section.targets = [
        Target(
            "POST /photos/process with 1000 UUIDs, confirms on, one batch",
            f"{median_ms(posts):.0f} ms (median of {len(posts)})",
            "≤ 150 ms",
            median_ms(posts) <= 150,
        ),
        Target(
            f"python -m service process-pending over {bulk_count:,} pending",
            f"{bulk_rate:,.0f} msgs/s",
            "≥ 10,000 msgs/s",
            bulk_rate >= 10_000,
        ),
        Target(
            f"GET /stats with {largest:,} photos",
            f"{reads[largest]['stats']:.1f} ms (median)",
            "≤ 10 ms, flat as the table grows",
            reads[largest]["stats"] <= 10,
        ),
        Target(
            f"GET /photos/pending?limit=100 with {largest:,} photos",
            f"{reads[largest]['pending']:.1f} ms (median)",
            "≤ 5 ms",
            reads[largest]["pending"] <= 5,
        ),
    ]
    section.table(
        ["photos", "GET /stats ms", "GET /photos/pending ms"],
        [
            [f"{size:,}", f"{reads[size]['stats']:.1f}", f"{reads[size]['pending']:.1f}"]
            for size in sorted(reads)
        ],
    )
    section.body.append(f"![reads against the table's size]({FIGURE.name})")
    section.body.append("")
    section.body.append(
        "Medians over gunicorn (1 worker process, 4 threads) on loopback, no worker running. /stats reads "
        "the counts the triggers keep (schema/0007), not count(*). POST publishes its 1000 messages as one "
        f"batch with pipelined confirms (p90 {statistics.quantiles(posts, n=10)[-1] * 1000:.0f} ms); "
        "process-pending does the same a page of 3000 at a time, the next page written before the last is "
        "confirmed, as a subprocess (its start included)."
    )
    return section
