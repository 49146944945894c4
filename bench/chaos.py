"""The chaos soak (issue 21): 10,000 photos through 3 worker hosts and 2 API processes on a LAN
of namespaces, the bucket store and webhooks on, a fault every 15-30 s drawn from every kind
(harness/chaos.py: worker SIGKILL, host vanished, API killed, RabbitMQ closing every connection,
PostgreSQL restarted, S3 down 20 s, receiver down 60 s, a partition from the database), then the
audit. Needs root (network namespaces) and PostgreSQL 15's initdb."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.report import Section, Target
from harness.chaos import SoakPlan, run_soak
from harness.hosts import running_lan
from harness.imageserver import ImageServer


def run(quick: bool) -> Section:
    """Run the soak and report its audit."""
    plan = SoakPlan(
        photos=600 if quick else 10_000,
        fault_every=(15.0, 30.0),
        s3_down_s=20.0,
        receiver_down_s=60.0,
        post_batch=100,
        post_every_s=1.0,
        timeout_s=3600.0,
    )
    work = Path(tempfile.mkdtemp(prefix="photo-processor-chaos-"))
    server = ImageServer().start()
    try:
        base = {
            "ALLOW_PRIVATE_SOURCES": "1",
            "RETRY_MAX": "3",
            "WORKER_METRICS_PORT": "0",
            "dramatiq_prom_db": str(work / "metrics"),
            "HOST_BREAKER_FAILURES": "1000000",  # one image server: one host to the breaker
        }
        with running_lan(work) as lan:
            report = run_soak(lan, base, server, work, plan)
    finally:
        server.stop()
    section = Section("Chaos soak (issue 21)")
    section.targets.append(
        Target(
            f"{report.photos:,} photos through {sum(report.faults.values())} faults: lost, stuck, doubled, orphans",
            f"{report.lost}, {report.stuck}, {report.doubled}, {report.orphans}",
            "0, 0, 0, 0",
            report.clean(),
            f"events missing {report.events_missing}, doubled {report.events_doubled}",
        )
    )
    section.table(
        ["fault", "injected"], [[kind, str(count)] for kind, count in sorted(report.faults.items())]
    )
    section.body.append(
        f"{report.completed:,} completed, {report.failed_as_meant} failed as meant (their sources answer "
        f"404), in {report.seconds:.0f} s; the longest from a photo queued to completed "
        f"{report.longest_still_s:.0f} s. Worker hosts: 3, each 1 process x 2 threads, on 2 cores "
        "beside 2 API processes, RabbitMQ, PostgreSQL and the S3 server."
    )
    return section
