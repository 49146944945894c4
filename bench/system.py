"""The system suite: the real worker and API processes on this run's own database and vhost.

- worker end to end: 12 MP JPEGs served on 127.0.0.1, one message each, timed from the first
  send to the last photo completed, against the thumbnail function's own rate on the same
  files in a loop; then with 2 worker processes against 1;
- where the time goes per photo, from the worker's JSON log lines;
- POST /photos/process with 1000 UUIDs (publisher confirms on), and GET /photos/pending?limit=100
  over 100,000 pending rows, through gunicorn as the Procfile runs it.
"""

from __future__ import annotations

import statistics
import subprocess
import time

import requests

from bench.enqueue import post_1000
from bench.environment import Bench, bench_environment
from bench.report import Section, Target
from harness.polling import wait_until
from harness.service_processes import ServiceProcess, start_api, start_worker
from pipeline.thumbnail import make_thumbnail

STAGES = ("claim", "download", "decode", "encode", "store", "database")
UNSTAGED = "in no stage (store check, removals)"


def thumbnail_rate(bench: Bench, count: int) -> float:
    """Photos per second of the thumbnail function alone, on the same files, in a loop."""
    make_thumbnail(bench.files[0])
    started = time.perf_counter()
    for index in range(count):
        make_thumbnail(bench.files[index % len(bench.files)])
    return count / (time.perf_counter() - started)


def worker_rate(
    bench: Bench, count: int, *, processes: int, env: dict[str, str] | None = None, name: str = "worker"
) -> tuple[float, dict[str, float]]:
    """Photos per second through a real worker (`env`: its settings, bench.env by default; `name`:
    its log's); and the median ms per stage from its log."""
    worker = start_worker(
        env or bench.env, bench.log_dir, processes=processes, threads=1, supervised=False, name=name
    )
    try:
        warm = bench.insert_photos(processes * 2, f"warm{processes}")
        for photo_id in warm:
            bench.actors.process_photo.send(photo_id)
        wait_until(lambda: bench.completed(warm) == len(warm), timeout=120, message="worker warm")
        ids = bench.insert_photos(count, f"run{processes}")
        started = time.perf_counter()
        for photo_id in ids:
            bench.actors.process_photo.send(photo_id)
        wait_until(lambda: bench.completed(ids) == count, timeout=600, interval=0.02, message="photos done")
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    return count / elapsed, _stages(worker, set(ids), elapsed / count * processes)


def curl_ms(bench: Bench, runs: int = 30) -> float:
    """Median ms curl takes to download one of the bench's files from the same image server."""
    path = "/curl/0.jpg"
    bench.server.image(path, bench.files[0])
    times = []
    for _ in range(runs):
        written = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", bench.server.url(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times.append(float(written) * 1000)
    return statistics.median(times)


def _stages(worker: ServiceProcess, ids: set[str], wall_per_photo_s: float) -> dict[str, float]:
    """Median ms per stage over the photos' log lines, what their total has besides, and what is
    left of the wall time."""
    import json

    lines = [json.loads(line) for line in worker.logs().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("photo") in ids and line.get("outcome") == "completed"]
    stages = {stage: statistics.median(line[f"{stage}_ms"] for line in mine) for stage in STAGES}
    # The store check before the download and the removals after the write count in no stage.
    unstaged = (line["total_ms"] - sum(line[f"{stage}_ms"] for stage in STAGES) for line in mine)
    stages[UNSTAGED] = statistics.median(unstaged)
    total = statistics.median(line["total_ms"] for line in mine)
    stages["queue, ack and the rest"] = max(0.0, wall_per_photo_s * 1000 - total)
    return stages


def pending_pages(bench: Bench, api: str, rows: int, requests_count: int) -> list[float]:
    """Seconds per GET /photos/pending?limit=100 over `rows` pending photos, deep pages included."""
    bench.db.execute_sql(
        "INSERT INTO photos (url, created_at) SELECT 'http://127.0.0.1:9/' || n,"
        " now() - make_interval(secs => n / 1000.0) FROM generate_series(1, %s) n",
        (rows,),
    )
    bench.db.execute_sql("ANALYZE photos")
    session = requests.Session()
    timings: list[float] = []
    url: str | None = None
    while len(timings) < requests_count:
        started = time.perf_counter()
        response = session.get(url or f"{api}/photos/pending?limit=100", timeout=30)
        timings.append(time.perf_counter() - started)
        link = response.links.get("next", {}).get("url")
        # Follow the chain 100 pages deep (10,000 rows in), then start again from the top.
        url = f"{api}{link}" if link and len(timings) % 100 else None
    return timings[5:]


def run(quick: bool) -> Section:
    """Measure the system's rows of the targets table."""
    count = 40 if quick else 200
    section = Section("Worker and API end to end")
    with bench_environment() as bench:
        function_rate = thumbnail_rate(bench, count)
        one_rate, stages = worker_rate(bench, count, processes=1)
        curl = curl_ms(bench)
        two_rate, _ = worker_rate(bench, count * 2, processes=2)
        api, base_url = start_api(bench.env, bench.log_dir)
        try:
            posts = post_1000(bench, base_url, api, 3 if quick else 7, busy=False).seconds
            pages = pending_pages(bench, base_url, 20_000 if quick else 100_000, 100 if quick else 400)
        finally:
            api.stop()

    ratio = one_rate / function_rate
    scaling = two_rate / one_rate
    post_median = statistics.median(posts)
    page_median = statistics.median(pages) * 1000
    section.targets += [
        Target(
            f"worker end to end, 1 process × 1 thread, {count} × 12 MP JPEG on loopback",
            f"{ratio:.2f} × the function's rate ({one_rate:.1f} vs {function_rate:.1f} photos/s)",
            "≥ 0.85 × the function's rate",
            ratio >= 0.85,
        ),
        Target(
            "download stage against curl, the same 12 MP JPEG from the same server",
            f"{stages['download'] / curl:.2f} × ({stages['download']:.1f} vs {curl:.1f} ms, medians)",
            "≤ 1.5 × curl",
            stages["download"] / curl <= 1.5,
            "the worker's download_ms (kept-alive connection, every cap on) against curl -w time_total",
        ),
        Target(
            "worker end to end, 2 processes",
            f"{scaling:.2f} × 1 process ({two_rate:.1f} vs {one_rate:.1f} photos/s)",
            "≥ 1.7 × 1 process",
            scaling >= 1.7,
            "2 cores, shared with PostgreSQL, RabbitMQ and the image server",
        ),
        Target(
            "POST /photos/process with 1000 UUIDs, confirms on",
            f"{post_median:.2f} s (median of {len(posts)})",
            "≤ 1 s",
            post_median <= 1.0,
        ),
        Target(
            f"GET /photos/pending?limit=100, {100_000 if not quick else 20_000:,} pending rows",
            f"{page_median:.1f} ms (median of {len(pages)}, pages 1 to 100)",
            "median ≤ 10 ms",
            page_median <= 10.0,
        ),
    ]
    section.body.append(
        f"Per photo in the worker (1 process × 1 thread; medians over {count} photos, from its JSON log lines):"
    )
    section.body.append("")
    section.table(["stage", "ms"], [[name, f"{ms:.1f}"] for name, ms in stages.items()])
    section.body.append(
        "claim is the pooled connection, the advisory lock and the claiming UPDATE (one round trip); "
        "decode covers opening, the reduced-scale JPEG decode, resize, colour and rotation; "
        f'"{UNSTAGED}" is the worker\'s total minus its stages; '
        '"queue, ack and the rest" is the wall time per photo minus the worker\'s own total: '
        "delivery from RabbitMQ, Dramatiq's middleware, the ack."
    )
    section.body.append("")
    section.table(
        ["request", "median ms", "p90 ms"],
        [
            ["POST /photos/process, 1000 UUIDs", f"{post_median * 1000:.0f}", f"{_p90(posts) * 1000:.0f}"],
            ["GET /photos/pending?limit=100", f"{page_median:.1f}", f"{_p90(pages) * 1000:.1f}"],
        ],
    )
    return section


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else values[0]
