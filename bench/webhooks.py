"""The webhooks suite: the worker's photos/s while its webhook receiver never answers, against
no webhook at all (issue 12: a slow or absent receiver never slows thumbnailing).

One worker of 2 processes (the cores) x 1 thread per round, in turn: no WEBHOOK_URL; a receiver
on 127.0.0.1 that reads each request and never answers (every sender thread held until
WEBHOOK_TIMEOUT_S, 10 s, then again: the outbox keeps a backlog of every event so far); and a
receiver that answers 200 at once. Rounds alternate so that the load of other work on the machine
falls on all three alike; the figure is the ratio of medians.
"""

from __future__ import annotations

import statistics
import time

from bench.environment import Bench, bench_environment
from bench.remote import batch
from bench.report import Section, Target
from harness.service_processes import start_worker
from harness.webhook_receiver import WebhookReceiver

PROCESSES = 2
TARGET = 0.95
MODES = ("none", "hang", "accept")
SECRET = "bench-webhook-secret"  # noqa: S105 (a local receiver of the run)


def run(quick: bool) -> Section:
    """photos/s per mode over alternating rounds; the hanging receiver's share of the rate without."""
    count, rounds = (30, 1) if quick else (150, 3)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    started = time.perf_counter()
    receiver = WebhookReceiver(SECRET).up()
    try:
        with bench_environment() as bench:
            for round_ in range(rounds):
                for mode in MODES:
                    rates[mode].append(count / _round(bench, receiver, mode, count, f"r{round_}-{mode}"))
            backlog = bench.db.execute_sql(
                "SELECT state, count(*) FROM webhook_events GROUP BY state ORDER BY state"
            ).fetchall()
    finally:
        receiver.stop()
    return _section(rates, count, rounds, dict(backlog), time.perf_counter() - started)


def _round(bench: Bench, receiver: WebhookReceiver, mode: str, count: int, tag: str) -> float:
    """Seconds for `count` photos on a fresh worker in `mode`, after a warm-up batch."""
    env = dict(bench.env)
    if mode != "none":
        env |= {"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET}
        receiver.set_mode("hang" if mode == "hang" else "accept")
    worker = start_worker(env, bench.log_dir, processes=PROCESSES, threads=1, supervised=False, name=tag)
    try:
        batch(bench, PROCESSES * 2, 0, f"warm-{tag}")
        return batch(bench, count, 0, tag)
    finally:
        worker.stop()


def _section(
    rates: dict[str, list[float]], count: int, rounds: int, backlog: dict[str, int], elapsed_s: float
) -> Section:
    median = {mode: statistics.median(values) for mode, values in rates.items()}
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
    section.body.append(
        f"photos/s of a fresh worker ({PROCESSES} processes × 1 thread, {count} × 12 MP JPEG per round, "
        f"{rounds} round(s) of the three modes in turn, medians). Hanging: the receiver reads each "
        "delivery and never answers, so every sender thread waits out WEBHOOK_TIMEOUT_S (10 s) again "
        f"and again. Events at the end: {', '.join(f'{n} {state}' for state, n in backlog.items())}. "
        f"The suite took {elapsed_s:.0f} s."
    )
    section.body.append("")
    section.table(
        ["mode", *(f"round {n + 1}" for n in range(rounds)), "median"],
        [[mode, *(f"{rate:.1f}" for rate in rates[mode]), f"{median[mode]:.1f}"] for mode in MODES],
    )
    return section
