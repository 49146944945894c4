"""Enqueueing, as a single-host deployment runs it: with and without the worker consuming beside it.

- POST /photos/process with 1000 UUIDs through gunicorn, and `python -m service process-pending`
  as a subprocess, each as a time (or a rate) and as the CPU its process spent per message;
- "worker busy": the default worker (1 process, 1 thread) works through a backlog of 12 MP
  JPEGs from the bench's image server the whole time, so it holds a core, as it does on a host
  that also runs the API. The photos being enqueued are real photos too, so that the worker's
  backlog only grows while the API is measured; nothing is purged until the worker is stopped.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.environment import Bench
from harness.polling import wait_until
from harness.queue import QueueProbe
from harness.service_processes import REPO, ServiceProcess, start_worker

# A backlog the worker cannot finish while the API is measured (~13 photos/s on 2 cores).
BACKLOG = 2000


@dataclass(frozen=True)
class Enqueued:
    """What enqueueing `messages` cost: each run's seconds, and the process's CPU seconds in all."""

    messages: int
    seconds: list[float]
    cpu_s: float

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_s / self.messages * 1e6


def group_cpu_s(pgid: int) -> float:
    """CPU seconds the live threads of process group `pgid` have run, to the nanosecond
    (/proc/PID/task/TID/schedstat; the tick-counted utime would be too coarse for a few ms)."""
    total_ns = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command may hold spaces and parentheses: the fields after its last ')' are plain.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # the group, field 5 of stat
                continue
            for task in (entry / "task").iterdir():
                total_ns += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # exited while being read
            continue
    return total_ns / 1e9


def post_1000(bench: Bench, api: str, api_process: ServiceProcess, rounds: int, *, busy: bool) -> Enqueued:
    """POST /photos/process of 1000 pending photos, `rounds` times (after one untimed round that
    opens the gunicorn thread's broker link); each round its own photos, so each queues all 1000.
    Idle, the queue is purged between rounds and the photos deleted after; busy, the worker's
    backlog is left to grow."""
    session = requests.Session()
    probe = QueueProbe(bench.env["AMQP_URI"])
    timings: list[float] = []
    cpu_s = 0.0
    posted: list[str] = []
    try:
        for round_index in range(rounds + 1):
            ids = _photos(bench, 1000, f"post{round_index}", real=busy)
            posted += ids
            if not busy:
                probe.purge()
            before = group_cpu_s(api_process.pid)
            started = time.perf_counter()
            response = session.post(f"{api}/photos/process", json=ids, timeout=60)
            elapsed = time.perf_counter() - started
            spent = group_cpu_s(api_process.pid) - before
            if response.status_code != 202 or len(response.json()["queued"]) != 1000:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")
            if round_index:  # the first opens the broker connection of its gunicorn thread
                timings.append(elapsed)
                cpu_s += spent
        if not busy:
            probe.purge()
            bench.db.execute_sql("DELETE FROM photos WHERE uuid = ANY(%s::uuid[])", (posted,))
    finally:
        probe.close()
    return Enqueued(1000 * rounds, timings, cpu_s)


def process_pending(bench: Bench, count: int) -> Enqueued:
    """`python -m service process-pending` over `count` new pending photos (and any others pending),
    its start included, as a subprocess: its wall time and the CPU it spent (its rusage, reaped
    by subprocess.run)."""
    bench.db.execute_sql(
        "INSERT INTO photos (url) SELECT 'http://127.0.0.1:9/bulk' || n FROM generate_series(1, %s) n",
        (count,),
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Beside a busy worker, its backlog's photos not yet claimed are pending too, and queued again.
    queued = re.search(r"^(\d+) pending photo\(s\) queued$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or queued is None or int(queued[1]) < count:
        raise RuntimeError(f"process-pending failed: {done.stdout[-300:]} {done.stderr[-300:]}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Enqueued(int(queued[1]), [elapsed], cpu_s)


@contextmanager
def busy_worker(bench: Bench, api: str) -> Iterator[ServiceProcess]:
    """The default worker (1 process, 1 thread), working through a backlog of real photos until stopped; then
    its queue is purged and the photos of the run removed."""
    worker = start_worker(bench.env, bench.log_dir, processes=1, threads=1, supervised=False, name="busy")
    try:
        backlog = _photos(bench, BACKLOG, "backlog", real=True)
        # Through the API (the actors package's broker is the first suite's of the run).
        for start in range(0, len(backlog), 1000):
            response = requests.post(f"{api}/photos/process", json=backlog[start : start + 1000], timeout=60)
            if response.status_code != 202:
                raise RuntimeError(f"queueing the backlog: {response.status_code} {response.text[:200]}")
        # Busy from here on: decoding its first photos, the rest of the backlog waiting.
        wait_until(lambda: bench.completed(backlog) >= 2, timeout=120, message="busy worker started")
        yield worker
        if bench.completed(backlog) == len(backlog):
            raise RuntimeError("the worker finished its backlog: it was not busy all along")
    finally:
        worker.stop()
        probe = QueueProbe(bench.env["AMQP_URI"])
        try:
            probe.purge()
        finally:
            probe.close()
        bench.db.execute_sql("TRUNCATE photos CASCADE")


def _photos(bench: Bench, count: int, tag: str, *, real: bool) -> list[str]:
    """`count` pending photos: real JPEGs on the image server, or URLs nothing serves (no worker)."""
    if real:
        return bench.insert_photos(count, tag)
    rows = bench.db.execute_sql(
        "INSERT INTO photos (url) SELECT %s || n FROM generate_series(1, %s) n RETURNING uuid",
        (f"http://127.0.0.1:9/{tag}/", count),
    ).fetchall()
    return [str(row[0]) for row in rows]
