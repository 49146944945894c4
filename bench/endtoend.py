"""The end-to-end suite: 10,000 photos through the real path, with the queue depth over time.

A mix of photos (bench/endtoend_mix.py) served on 127.0.0.1, queued through gunicorn by
`POST /photos/process` in batches of 1000 while the worker runs, as the Procfile runs it: at the
README's default of 1 process x 1 thread, then at 2 x 2 (one process per core, as "Scaling"
says, and a second thread to overlap the download and the database with decoding). Every
0.5 s: the ready messages on the queue, the photos by status, the load average; until every
photo is completed or failed. Then, from the database, each photo's time from queued to
completed (bench/endtoend_times.py says which columns, and why), plotted to bench/endtoend.png.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import endtoend_mix
from bench.endtoend_plot import plot
from bench.endtoend_report import section
from bench.endtoend_samples import Result, Sample
from bench.endtoend_times import photo_times
from bench.environment import Bench, bench_environment
from bench.report import Section
from harness.polling import wait_until
from harness.queue import QueueProbe
from harness.service_processes import start_api, start_worker

COUNT = 10_000
QUICK_COUNT = 1_000
BATCH = 1000
SETTINGS = ((1, 1), (2, 2))  # worker processes x threads
INTERVAL_S = 0.5
FIGURE = Path(__file__).with_name("endtoend.png")


def run(quick: bool) -> Section:
    """Each worker setting in turn, on one API and one database (emptied between settings)."""
    count = QUICK_COUNT if quick else COUNT
    results = []
    with bench_environment() as bench:
        # The worker makes it at start; the API's health check wants it before any worker runs.
        Path(bench.env["THUMBS_DIR"]).mkdir(parents=True, exist_ok=True)
        api_process, api = start_api(bench.env, bench.log_dir)
        try:
            for processes, threads in SETTINGS:
                results.append(_setting(bench, api, count, processes, threads))
        finally:
            api_process.stop()
    plot(results, FIGURE)
    return section(results, FIGURE, endtoend_mix.describe(), batch=BATCH, interval_s=INTERVAL_S)


def _setting(bench: Bench, api: str, count: int, processes: int, threads: int) -> Result:
    """Start a warmed worker, queue `count` photos of the mix through the API, sample until done."""
    worker = start_worker(
        bench.env, bench.log_dir, processes=processes, threads=threads, name=f"worker-{processes}x{threads}"
    )
    try:
        warm = bench.insert_photos(processes * threads * 2, f"warm-{processes}x{threads}")
        for photo_id in warm:
            bench.actors.process_photo.send(photo_id)
        wait_until(lambda: bench.completed(warm) == len(warm), timeout=300, message="worker warm")
        bench.db.execute_sql("TRUNCATE photos CASCADE")
        ids, failing = endtoend_mix.insert(bench, count, f"e2e-{processes}x{threads}")
        bench.db.execute_sql("ANALYZE photos")
        result = Result(processes, threads, count, load_before=os.getloadavg()[0])
        started = time.time()
        with ThreadPoolExecutor(1) as pool:
            posting = pool.submit(_post_all, api, ids)
            result.samples = _sample_until_done(bench, posting, started, deadline_s=300 + count * 0.3)
            asked_at, result.posts_s = posting.result()
        result.times = photo_times(bench.db, started, asked_at, failing)
        return result
    finally:
        worker.stop()


def _post_all(api: str, ids: list[str]) -> tuple[dict[str, float], list[float]]:
    """POST /photos/process `ids` in batches; when each photo was asked for (epoch seconds), and
    the seconds each POST took."""
    session = requests.Session()
    asked_at: dict[str, float] = {}
    posts: list[float] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        sent = time.time()
        response = session.post(f"{api}/photos/process", json=chunk, timeout=120)
        posts.append(time.time() - sent)
        if response.status_code != 202 or len(response.json()["queued"]) != len(chunk):
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:300]}")
        asked_at |= dict.fromkeys(chunk, sent)
    return asked_at, posts


def _sample_until_done(
    bench: Bench, posting: Future[Any], started: float, *, deadline_s: float
) -> list[Sample]:
    """A sample every INTERVAL_S until every photo is completed or failed; past `deadline_s`,
    stop (the report shows the photos left unfinished)."""
    probe = QueueProbe(bench.env["AMQP_URI"])
    samples: list[Sample] = []
    try:
        total = bench.db.execute_sql("SELECT count(*) FROM photos").fetchone()[0]
        while True:
            tick = time.time()
            counts = dict(
                bench.db.execute_sql("SELECT status::text, count(*) FROM photos GROUP BY 1").fetchall()
            )
            samples.append(Sample(tick - started, probe.depth(), counts, os.getloadavg()[0]))
            error = posting.exception() if posting.done() else None
            if error is not None:
                raise error
            if samples[-1].done >= total or tick - started > deadline_s:
                return samples
            # A sampling period, not a wait for a condition: the condition is checked above.
            time.sleep(max(0.0, tick + INTERVAL_S - time.time()))
    finally:
        probe.close()
