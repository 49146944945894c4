"""The webhooks suite: the worker's photos/s while its webhook receiver never answers, against
no webhook at all (issue 12: a slow or absent receiver never slows thumbnailing).

One worker of 2 processes (the cores) x 1 thread per round, in turn: no WEBHOOK_URL; a receiver
on 127.0.0.1 that reads each request and never answers (every sender thread held until
WEBHOOK_TIMEOUT_S, 10 s, then again: the outbox keeps a backlog of every event so far); a
receiver that is down (its port refuses connections: the breaker's case, with that backlog due);
and a receiver that answers 200 at once. Rounds alternate so that the load of other work on the machine
falls on all three alike; the figure is the ratio of medians. Others' load on a shared machine
moves photos/s a lot from one round to the next, so the worker processes' CPU seconds per photo
(user + system, read from /proc over the measured batch) are reported beside it: the cost of the
webhooks themselves, which others' load hardly moves.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from bench.environment import Bench, bench_environment
from bench.remote import batch
from bench.report import Section, Target
from harness.proc_tree import dramatiq_workers
from harness.service_processes import start_worker
from harness.webhook_receiver import WebhookReceiver

PROCESSES = 2
TARGET = 0.95
MODES = ("none", "hang", "down", "accept")
SECRET = "bench-webhook-secret"  # noqa: S105 (a local receiver of the run)


def run(quick: bool) -> Section:
    """photos/s per mode over alternating rounds; the hanging receiver's share of the rate without."""
    count, rounds = (30, 1) if quick else (150, 5)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu_ms: dict[str, list[float]] = {mode: [] for mode in MODES}
    started = time.perf_counter()
    receiver = WebhookReceiver(SECRET).up()
    try:
        with bench_environment() as bench:
            for round_ in range(rounds):
                for mode in MODES:
                    seconds, cpu_s = _round(bench, receiver, mode, count, f"r{round_}-{mode}")
                    rates[mode].append(count / seconds)
                    cpu_ms[mode].append(cpu_s * 1000 / count)
            backlog = bench.db.execute_sql(
                "SELECT state, count(*) FROM webhook_events GROUP BY state ORDER BY state"
            ).fetchall()
    finally:
        receiver.stop()
    return _section(rates, cpu_ms, count, rounds, dict(backlog), time.perf_counter() - started)


def _round(bench: Bench, receiver: WebhookReceiver, mode: str, count: int, tag: str) -> tuple[float, float]:
    """Seconds for `count` photos on a fresh worker in `mode`, after a warm-up batch, and the CPU
    seconds its worker processes spent meanwhile."""
    env = dict(bench.env)
    if mode != "none":
        env |= {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET}
        receiver.set_mode("hang" if mode == "hang" else "accept")
    if mode == "down":
        receiver.down()
    worker = start_worker(env, bench.log_dir, processes=PROCESSES, threads=1, supervised=False, name=tag)
    try:
        batch(bench, PROCESSES * 2, 0, f"warm-{tag}")
        pids = dramatiq_workers(worker.pid)
        before = sum(map(_cpu_s, pids))
        seconds = batch(bench, count, 0, tag)
        return seconds, sum(map(_cpu_s, pids)) - before
    finally:
        worker.stop()
        if mode == "down":
            receiver.up()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _section(
    rates: dict[str, list[float]],
    cpu_ms: dict[str, list[float]],
    count: int,
    rounds: int,
    backlog: dict[str, int],
    elapsed_s: float,
) -> Section:
    median = {mode: statistics.median(values) for mode, values in rates.items()}
    cpu = {mode: statistics.median(values) for mode, values in cpu_ms.items()}
    ratio = median["hang"] / median["none"]
    section = Section("Webhooks: thumbnailing while the receiver never answers")
    section.targets.append(
        Target(
            f"worker photos/s, {PROCESSES} × 1, webhook receiver never answering",
            f"{ratio:.2f} × without webhooks ({median['hang']:.1f} vs {median['none']:.1f} photos/s)",
            f"≥ {TARGET} × without webhooks",
            ratio >= TARGET,
            f"receiver answering at once: {median['accept'] / median['none']:.2f}",
        )
    )
    section.targets.append(
        Target(
            f"worker CPU per photo, {PROCESSES} × 1, webhook receiver never answering",
            f"{cpu['hang'] / cpu['none']:.2f} × without webhooks ({cpu['hang']:.0f} vs {cpu['none']:.0f} ms)",
            f"≤ {1 / TARGET:.2f} × without webhooks",
            cpu["hang"] / cpu["none"] <= 1 / TARGET,
            f"receiver answering at once: {cpu['accept'] / cpu['none']:.2f}; "
            f"receiver down (refusing connections): {cpu['down'] / cpu['none']:.2f}",
        )
    )
    section.body.append(
        f"A fresh worker ({PROCESSES} processes × 1 thread) per round, {count} × 12 MP JPEG per round, "
        f"{rounds} round(s) of the four modes in turn, medians. Hanging: the receiver reads each "
        "delivery and never answers, so every sender thread waits out WEBHOOK_TIMEOUT_S (10 s) again "
        "and again. Down: the receiver's port refuses connections, with that backlog due. "
        f"Events at the end: {', '.join(f'{n} {state}' for state, n in backlog.items())}. "
        f"The suite took {elapsed_s:.0f} s."
    )
    section.body.append("")
    header = ["mode", *(f"round {n + 1}" for n in range(rounds)), "median"]
    section.table(
        ["photos/s: " + header[0], *header[1:]],
        [[mode, *(f"{rate:.1f}" for rate in rates[mode]), f"{median[mode]:.1f}"] for mode in MODES],
    )
    section.table(
        ["CPU ms per photo: " + header[0], *header[1:]],
        [[mode, *(f"{ms:.0f}" for ms in cpu_ms[mode]), f"{cpu[mode]:.0f}"] for mode in MODES],
    )
    return section
