"""The scale suite: what grows with the work rather than with a photo.

- enqueueing: POST /photos/process with 1000 UUIDs (confirms on, one batch), and
  `python -m service process-pending` over 100,000 pending photos, as a rate;
- reading: GET /stats and each listing (GET /photos/pending, GET /photos, GET /photos?status=)
  with 10,000, 100,000 and 1,000,000 photos in the table (a flat line is the goal), plotted to
  bench/scale.png; then the same 1,000,000 as imports leave them: batches of 100,000 rows from
  one statement each, so each batch shares one created_at.

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
            imported = _reads_imported(bench, api, max(sizes), requests_count=20 if quick else 100)
        finally:
            api_process.stop()
    _plot(reads)
    return _section(posts, bulk_count, bulk_rate, reads, imported)


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


# The listings a client pages through, each at its first page of 100.
LISTINGS = {
    "pending": "/photos/pending?limit=100",
    "all": "/photos?limit=100",
    "completed": "/photos?status=completed&limit=100",
}
IMPORT_BATCH = 100_000  # rows per statement, as `python -m service import` writes them

Reads = dict[str, float]


def _reads_by_size(bench: Bench, api: str, sizes: tuple[int, ...], requests_count: int) -> dict[int, Reads]:
    """Median ms of GET /stats and of each listing with each number of photos, rows spread in time."""
    session = requests.Session()
    reads: dict[int, Reads] = {}
    present = 0
    for size in sizes:
        # A fifth completed, the rest pending; created over the last hours, as a table filled
        # photo by photo. In chunks, each well within the statement timeout.
        for start in range(present + 1, size + 1, IMPORT_BATCH):
            bench.db.execute_sql(
                "INSERT INTO photos (url, status, created_at)"
                " SELECT 'http://127.0.0.1:9/' || n,"
                " CASE WHEN n %% 5 = 0 THEN 'completed' ELSE 'pending' END::photo_status,"
                " now() - make_interval(secs => n / 100.0) FROM generate_series(%s, %s) n",
                (start, min(start + IMPORT_BATCH - 1, size)),
            )
        present = size
        reads[size] = _reads(bench, session, api, requests_count, size)
    bench.db.execute_sql("TRUNCATE photos CASCADE")
    return reads


def _reads_imported(bench: Bench, api: str, size: int, requests_count: int) -> Reads:
    """The same reads with `size` photos as imports leave them: each batch of 100,000 from one
    statement, so sharing one created_at; all completed but the newest batch, which is pending."""
    for start in range(1, size + 1, IMPORT_BATCH):
        status = "pending" if start + IMPORT_BATCH > size else "completed"
        bench.db.execute_sql(
            "INSERT INTO photos (url, status) SELECT 'http://127.0.0.1:9/i' || n, %s::photo_status"
            " FROM generate_series(%s, %s) n",
            (status, start, min(start + IMPORT_BATCH - 1, size)),
        )
    batches = bench.db.execute_sql("SELECT count(DISTINCT created_at) FROM photos").fetchone()[0]
    if batches != -(-size // IMPORT_BATCH):
        raise RuntimeError(f"{batches} created_at values for {size:,} imported photos")
    reads = _reads(bench, requests.Session(), api, requests_count, size)
    bench.db.execute_sql("TRUNCATE photos CASCADE")
    return reads


def _reads(bench: Bench, session: requests.Session, api: str, requests_count: int, size: int) -> Reads:
    """Median ms of GET /stats and of each listing's first page, the table analysed first."""
    bench.db.execute_sql("VACUUM ANALYZE photos")
    reads = {"stats": median_ms(_timed(session, f"{api}/stats", requests_count, expect_total=size))}
    for name, path in LISTINGS.items():
        reads[name] = median_ms(_timed(session, f"{api}{path}", requests_count))
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


PLOTTED = {
    "stats": "GET /stats",
    "pending": "GET /photos/pending?limit=100",
    "all": "GET /photos?limit=100",
    "completed": "GET /photos?status=completed&limit=100",
}


def _plot(reads: dict[int, Reads]) -> None:
    """Each read's median against the table's size, on a log scale of rows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    sizes = sorted(reads)
    for key, label in PLOTTED.items():
        axes.plot(sizes, [reads[size][key] for size in sizes], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_xlabel("photos in the table")
    axes.set_ylabel("median ms per request")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(FIGURE)
    pyplot.close(figure)


def _section(
    posts: list[float], bulk_count: int, bulk_rate: float, reads: dict[int, Reads], imported: Reads
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
    ]
    for key in ("pending", "all", "completed"):
        for layout, figures in (("spread in time", reads[largest]), ("as imports leave them", imported)):
            section.targets.append(
                Target(
                    f"{PLOTTED[key]} with {largest:,} photos, rows {layout}",
                    f"{figures[key]:.1f} ms (median)",
                    "≤ 5 ms",
                    figures[key] <= 5,
                )
            )
    section.table(
        ["photos", *PLOTTED.values()],
        [[f"{size:,}", *(f"{reads[size][key]:.1f}" for key in PLOTTED)] for size in sorted(reads)]
        + [[f"{largest:,} as imported", *(f"{imported[key]:.1f}" for key in PLOTTED)]],
    )
    section.body.append(f"![reads against the table's size]({FIGURE.name})")
    section.body.append("")
    section.body.append(
        "Medians in ms over gunicorn (1 worker process, 4 threads) on loopback, no worker running. Rows "
        "spread in time: a fifth completed, the rest pending, each with its own created_at. As imported: "
        f"batches of {IMPORT_BATCH:,} rows from one INSERT each (so sharing one created_at, as "
        "`python -m service import` leaves them), all completed but the newest batch, which is pending; "
        "each listing then pages through rows that share created_at, in UUID order. /stats reads "
        "the counts the triggers keep (schema/0007), not count(*). POST publishes its 1000 messages as one "
        f"batch with pipelined confirms (p90 {statistics.quantiles(posts, n=10)[-1] * 1000:.0f} ms); "
        "process-pending does the same a page of 3000 at a time, the next page written before the last is "
        "confirmed, as a subprocess (its start included)."
    )
    return section
