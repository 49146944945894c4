"""The remote suite: the worker's photos/s when sources answer late, against its threads.

The image server holds each reply for a first-byte latency (0, 20, 100, 200 ms) before its status
line, as a source far away would. The real worker runs 2 processes (the cores) x 1, 2, 4, 8 threads:
one worker per thread count, warmed at 0 ms, then a batch of the system suite's 12 MP JPEGs at each
latency in turn. A thread waiting on a source holds no CPU (nor the GIL), so more threads overlap
the wait with other threads' decoding; the 0 ms rate is the CPU-bound one. Each worker's peak RSS
per process (VmHWM) is read before it stops; then, at the recommended setting, a fresh worker
gets large photos all at once (50 MP JPEGs, then 12 MP RGBA PNGs) for the peak with every thread
decoding one.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import corpus
from bench.environment import Bench, bench_environment
from bench.remote_plot import plot
from bench.report import Section, Target
from bench.rss import BOMB_LIMIT_MB
from harness.polling import wait_until
from harness.proc_tree import dramatiq_workers, peak_rss_kib
from harness.service_processes import ServiceProcess, start_worker

LATENCIES_MS = (0, 20, 100, 200)
THREADS = (1, 2, 4, 8)
PROCESSES = 2
TARGET = 0.95  # issue 11: at the recommended setting, at least 0.95 x the CPU-bound rate
LARGE = (("jpeg-50mp-0.jpg", "50 MP JPEG"), ("png-12mp-0-rgba.png", "12 MP RGBA PNG"))
FIGURE = Path(__file__).with_name("remote.png")

Grid = dict[tuple[int, int], float]  # (threads, latency ms) -> photos/s


def run(quick: bool) -> Section:
    """Measure photos/s over latency x threads, then peak RSS at the recommended setting."""
    count = 30 if quick else 200
    threads = (1, 4) if quick else THREADS
    rates: Grid = {}
    rss_mb: dict[int, float] = {}
    started = time.perf_counter()
    with bench_environment() as bench:
        for thread_count in threads:
            worker = _worker(bench, thread_count, f"worker-{thread_count}t")
            try:
                for latency in LATENCIES_MS:
                    rates[thread_count, latency] = count / batch(bench, count, latency, f"t{thread_count}")
                rss_mb[thread_count] = peak_mb(worker)
            finally:
                worker.stop()
        best = recommend(rates, threads)
        large = {title: large_peak(bench, best, name, 2 if quick else 3) for name, title in LARGE}
    plot(rates, threads, LATENCIES_MS, FIGURE, processes=PROCESSES)
    return _section(rates, threads, rss_mb, best, large, count, time.perf_counter() - started)


def _worker(bench: Bench, threads: int, name: str) -> ServiceProcess:
    """A worker of PROCESSES x `threads`, warmed with a few photos per thread at 0 ms."""
    worker = start_worker(
        bench.env, bench.log_dir, processes=PROCESSES, threads=threads, supervised=False, name=name
    )
    batch(bench, PROCESSES * threads * 2, 0, f"warm{threads}")
    return worker


def batch(bench: Bench, count: int, latency_ms: int, tag: str, files: list[bytes] | None = None) -> float:
    """Seconds from the first send to the last of `count` photos completed, served `latency_ms` late."""
    ids = bench.insert_photos(count, f"{tag}-{latency_ms}ms", delay_s=latency_ms / 1000, files=files)
    started = time.perf_counter()
    for photo_id in ids:
        bench.actors.process_photo.send(photo_id)
    wait_until(lambda: bench.completed(ids) == count, timeout=600, interval=0.05, message="photos done")
    return time.perf_counter() - started


def peak_mb(worker: ServiceProcess) -> float:
    """The highest peak RSS (VmHWM) among the worker's processes, in MB."""
    pids = dramatiq_workers(worker.pid)
    if len(pids) != PROCESSES:
        raise RuntimeError(f"found {len(pids)} worker processes below {worker.pid}, not {PROCESSES}")
    return max(peak_rss_kib(pid) for pid in pids) * 1024 / 1e6


def recommend(rates: Grid, threads: tuple[int, ...]) -> int:
    """The fewest threads whose worst share of the CPU-bound rate over 20-200 ms is within 0.02 of
    the best such worst share (more threads: more connections and memory for nothing)."""
    worst = {count: min(share(rates, count, ms) for ms in LATENCIES_MS[1:]) for count in threads}
    top = max(worst.values())
    return min(count for count in threads if worst[count] >= top - 0.02)


def share(rates: Grid, threads: int, latency_ms: int) -> float:
    """photos/s of `threads` at `latency_ms` over the CPU-bound rate (the best at 0 ms)."""
    cpu_bound = max(rate for (_, ms), rate in rates.items() if ms == 0)
    return rates[threads, latency_ms] / cpu_bound


def large_peak(bench: Bench, threads: int, name: str, per_thread: int) -> float:
    """Peak RSS per process (MB) of a fresh worker given `per_thread` large photos per thread at once."""
    corpus.ensure(log=False, names=[name])
    files = [(corpus.CORPUS_DIR / name).read_bytes()]
    worker = _worker(bench, threads, f"worker-large-{Path(name).stem}")
    try:
        batch(bench, PROCESSES * threads * per_thread, 0, f"large-{Path(name).stem}", files=files)
        return peak_mb(worker)
    finally:
        worker.stop()


def _section(
    rates: Grid,
    threads: tuple[int, ...],
    rss_mb: dict[int, float],
    best: int,
    large: dict[str, float],
    count: int,
    elapsed_s: float,
) -> Section:
    """Target rows at the recommended setting, the grid, the best share per latency, the figure."""
    cpu_bound = max(rates[count_, 0] for count_ in threads)
    section = Section("Remote sources: photos/s against source latency and threads")
    for ms in LATENCIES_MS[1:]:
        ratio = share(rates, best, ms)
        section.targets.append(
            Target(
                f"worker, sources {ms} ms to first byte, {PROCESSES} processes × {best} threads",
                f"{ratio:.2f} × the CPU-bound rate ({rates[best, ms]:.1f} vs {cpu_bound:.1f} photos/s)",
                f"≥ {TARGET} × the CPU-bound rate",
                ratio >= TARGET,
                f"1 thread: {share(rates, threads[0], ms):.2f}",
            )
        )
    for title, mb in large.items():
        section.targets.append(
            Target(
                f"worker peak RSS per process, {PROCESSES} × {best}, every thread on a {title}",
                f"{mb:.0f} MB",
                f"≤ {BOMB_LIMIT_MB} MB",
                mb <= BOMB_LIMIT_MB,
            )
        )
    section.body.append(
        f"photos/s of the worker ({PROCESSES} processes, {count} × 12 MP JPEG per cell, served on "
        f"127.0.0.1 with the latency before the status line); the CPU-bound rate is the best at 0 ms "
        f"({cpu_bound:.1f} photos/s). Peak RSS: the worker's largest process after all its cells. "
        f"The suite took {elapsed_s:.0f} s."
    )
    section.body.append("")
    header = ["threads", *(f"{ms} ms" for ms in LATENCIES_MS), "peak RSS per process"]
    rows = [[str(n), *(f"{rates[n, ms]:.1f}" for ms in LATENCIES_MS), f"{rss_mb[n]:.0f} MB"] for n in threads]
    shares = []
    for ms in LATENCIES_MS:
        top = max(threads, key=lambda n: rates[n, ms])
        shares.append(f"{share(rates, top, ms):.2f} ({top} threads)")
    section.table(header, [*rows, ["best, share of CPU-bound", *shares, ""]])
    section.body.append(
        f"Recommended for remote sources: {PROCESSES} × {best} (the fewest threads within 0.02 of the "
        "best worst-case share over 20–200 ms). Downloads reuse connections: one keep-alive pool per "
        "worker thread (pipeline/transport.py)."
    )
    section.body.append("")
    section.body.append(f"![photos/s against source latency, one line per thread count]({FIGURE.name})")
    return section
