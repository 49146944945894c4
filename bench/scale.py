"""The scale suite: what grows with the work rather than with a photo.

- enqueueing: POST /photos/process with 1000 UUIDs (confirms on, one batch), and
  `python -m service process-pending` over 100,000 pending photos, as a rate; each with the
  CPU its process spent per message, with no worker running and beside the default worker
  busy with a backlog (bench/enqueue.py);
- reading: GET /stats and each listing (GET /photos/pending, GET /photos, GET /photos?status=)
  with 10,000, 100,000 and 1,000,000 photos in the table (a flat line is the goal), plotted to
  bench/scale.png; then the same 1,000,000 as imports leave them: batches of 100,000 rows from
  one statement each, so each batch shares one created_at.

Through gunicorn as the Procfile runs it, on a database and vhost of the run's own; but for the
enqueueing beside a busy worker, no worker runs while the reads are measured.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import requests

from bench import enqueue
from bench.enqueue import Enqueued
from bench.environment import Bench, bench_environment
from bench.report import Section, Target, median_ms
from harness.queue import QueueProbe
from harness.service_processes import ServiceProcess, start_api

SIZES = (10_000, 100_000, 1_000_000)
FIGURE = Path(__file__).with_name("scale.png")


def run(quick: bool) -> Section:
    """Measure enqueueing with the worker idle and busy, and the reads at each table size; plot the reads."""
    sizes = SIZES[:2] if quick else SIZES
    with bench_environment() as bench:
        Path(bench.env["THUMBS_DIR"]).mkdir(parents=True)
        api_process, api = start_api(bench.env, bench.log_dir)
        try:
            bulk_count = 10_000 if quick else 100_000
            rounds = 5 if quick else 10
            idle = _enqueueing(bench, api, api_process, rounds, bulk_count, busy=False)
            with enqueue.busy_worker(bench, api):
                busy = _enqueueing(bench, api, api_process, rounds, bulk_count, busy=True)
            reads = _reads_by_size(bench, api, sizes, requests_count=20 if quick else 100)
            imported = _reads_imported(bench, api, max(sizes), requests_count=20 if quick else 100)
        finally:
            api_process.stop()
    _plot(reads)
    return _section({"no worker running": idle, "the worker busy beside": busy}, reads, imported)


Enqueueing = tuple[Enqueued, Enqueued]  # POST /photos/process of 1000, process-pending


def _enqueueing(
    bench: Bench, api: str, api_process: ServiceProcess, rounds: int, bulk_count: int, *, busy: bool
) -> Enqueueing:
    """POST /photos/process of 1000 UUIDs `rounds` times, then process-pending over `bulk_count`,
    beside 100,000 completed photos as an import leaves them (a table of the toy's size hid a
    lookup that scanned it all)."""
    bench.db.execute_sql(
        "INSERT INTO photos (url, status) SELECT 'http://127.0.0.1:9/done' || n, 'completed'"
        " FROM generate_series(1, %s) n",
        (IMPORT_BATCH,),
    )
    bench.db.execute_sql("VACUUM ANALYZE photos")
    posts = enqueue.post_1000(bench, api, api_process, rounds, busy=busy)
    bulk = enqueue.process_pending(bench, bulk_count)
    if not busy:  # the busy worker's own end purges and empties the table
        probe = QueueProbe(bench.env["AMQP_URI"])
        try:
            probe.purge()
        finally:
            probe.close()
        bench.db.execute_sql("TRUNCATE photos CASCADE")
    return posts, bulk


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


def _section(enqueueing: dict[str, Enqueueing], reads: dict[int, Reads], imported: Reads) -> Section:
    largest = max(reads)
    section = Section("Scale: enqueueing, and reads as the table grows")
    for condition, (posts, bulk) in enqueueing.items():
        post_ms, rate = median_ms(posts.seconds), bulk.messages / bulk.seconds[0]
        section.targets += [
            Target(
                f"POST /photos/process with 1000 UUIDs, confirms on, {condition}",
                f"{post_ms:.0f} ms (median of {len(posts.seconds)})",
                "≤ 150 ms",
                post_ms <= 150,
            ),
            Target(
                f"API CPU per message of POST /photos/process, {condition}",
                f"{posts.cpu_us_per_message:.1f} µs",
                "≤ 8 µs",
                posts.cpu_us_per_message <= 8,
                "the gunicorn worker's threads, request to response",
            ),
            Target(
                f"python -m service process-pending over {bulk.messages:,} pending, {condition}",
                f"{rate:,.0f} msgs/s",
                "≥ 10,000 msgs/s",
                rate >= 10_000,
            ),
            Target(
                f"CPU per message of process-pending, {condition}",
                f"{bulk.cpu_us_per_message:.1f} µs",
                "≤ 8 µs",
                bulk.cpu_us_per_message <= 8,
                "the whole command, its start included",
            ),
        ]
    section.targets.append(
        Target(
            f"GET /stats with {largest:,} photos",
            f"{reads[largest]['stats']:.1f} ms (median)",
            "≤ 10 ms, flat as the table grows",
            reads[largest]["stats"] <= 10,
        )
    )
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
        [
            "enqueueing",
            "POST 1000: median ms",
            "p90 ms",
            "µs CPU/msg",
            "process-pending msgs/s",
            "µs CPU/msg",
        ],
        [
            [
                condition,
                f"{median_ms(posts.seconds):.0f}",
                f"{_p90(posts.seconds) * 1000:.0f}",
                f"{posts.cpu_us_per_message:.1f}",
                f"{bulk.messages / bulk.seconds[0]:,.0f}",
                f"{bulk.cpu_us_per_message:.1f}",
            ]
            for condition, (posts, bulk) in enqueueing.items()
        ],
    )
    section.body.append(
        f"Beside {IMPORT_BATCH:,} completed photos. Busy: the default worker (1 process × 1 thread) works through a backlog of 12 MP JPEGs "
        "the whole time, holding one of the 2 cores; the photos posted are real ones too, queued "
        "behind it. POST publishes its 1000 messages as one batch with pipelined confirms; "
        "process-pending does the same a page of 3000 at a time, the next page written before the "
        "last is confirmed, as a subprocess (its start included). CPU: the API's gunicorn worker "
        "threads (schedstat, ns), and the command's rusage."
    )
    section.body.append("")
    section.table(
        ["photos", *PLOTTED.values()],
        [[f"{size:,}", *(f"{reads[size][key]:.1f}" for key in PLOTTED)] for size in sorted(reads)]
        + [[f"{largest:,} as imported", *(f"{imported[key]:.1f}" for key in PLOTTED)]],
    )
    section.body.append(f"![reads against the table's size]({FIGURE.name})")
    section.body.append("")
    section.body.append(
        "Reads: medians in ms over gunicorn (1 worker process, 4 threads) on loopback, no worker running. Rows "
        "spread in time: a fifth completed, the rest pending, each with its own created_at. As imported: "
        f"batches of {IMPORT_BATCH:,} rows from one INSERT each (so sharing one created_at, as "
        "`python -m service import` leaves them), all completed but the newest batch, which is pending; "
        "each listing then pages through rows that share created_at, in UUID order. /stats reads "
        "the counts the triggers keep (schema/0007), not count(*)."
    )
    return section


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else values[0]
