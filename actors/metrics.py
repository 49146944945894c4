"""The worker's metrics: Dramatiq's own (messages, durations, retries, failures) and ours (photo
outcomes, time per stage, bytes downloaded), served on WORKER_METRICS_PORT for Prometheus.

prometheus_client must be imported only after Dramatiq's Prometheus middleware has pointed
PROMETHEUS_MULTIPROC_DIR at the directory the worker processes share (at process boot):
it picks single- or multi-process mode once, at import. Hence the imports inside functions.
"""

from __future__ import annotations

import logging
from http.server import HTTPServer
from typing import TYPE_CHECKING, Any

from dramatiq.middleware.prometheus import Prometheus, _metrics_handler

if TYPE_CHECKING:
    from pipeline.outcome import Outcome

log = logging.getLogger(__name__)

STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class WorkerPrometheus(Prometheus):
    """Dramatiq's Prometheus middleware, serving on our host and port (or not at all: port 0)."""

    def __init__(self, *, port: int) -> None:
        super().__init__()
        self._port = port

    @property
    def forks(self) -> list[Any]:
        return [serve_metrics] if self._port else []


def serve_metrics() -> int:
    """The exposition server, run by Dramatiq's master in a process of its own."""
    from config import load_config

    config = load_config()
    try:
        server = HTTPServer((config.host, config.worker_metrics_port), _metrics_handler)
    except OSError as error:
        log.error("Worker metrics not served on %s:%s: %s", config.host, config.worker_metrics_port, error)
        return 1
    log.info("Worker metrics on http://%s:%s/metrics", config.host, config.worker_metrics_port)
    server.serve_forever()
    return 0


class WorkerMetrics:
    """Our own worker metrics; build one per worker process, after process boot."""

    def __init__(self) -> None:
        import prometheus_client as prom

        registry = prom.CollectorRegistry()  # exposition reads the shared files, not a registry
        self._attempts = prom.Counter(
            "photo_processor_attempts_total",
            "Messages handled, by outcome: completed, skipped (done or held elsewhere), or the error code.",
            ["outcome"],
            registry=registry,
        )
        self._failed = prom.Counter(
            "photo_processor_photos_failed_total",
            "Photos set 'failed', by the code of their failure reason.",
            ["code"],
            registry=registry,
        )
        self._stage = prom.Histogram(
            "photo_processor_stage_seconds",
            "Time per processing stage: claim, download, decode, encode, store, database.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self._webhooks = prom.Counter(
            "photo_processor_webhook_deliveries_total",
            "Webhook deliveries recorded, by outcome: delivered (a 2xx), failed (the event stays pending, to"
            " retry), dead (failed and given up; not also counted as failed).",
            ["outcome"],
            registry=registry,
        )
        self._bytes = prom.Counter(
            "photo_processor_downloaded_bytes_total", "Bytes downloaded from sources.", registry=registry
        )
        self._rerenders = prom.Counter(
            "photo_processor_rerenders_total",
            "Re-render messages handled, by outcome: rerendered, skipped (current, busy, gone, not"
            " completed), rerender_failed (given up: the photo keeps its renditions), or the error code.",
            ["outcome"],
            registry=registry,
        )
        self._sources = prom.Counter(
            "photo_processor_sources_total",
            "Where the renditions of completed and re-rendered photos came from: rendered (decoded),"
            " deduplicated (copied from a photo with the same bytes, no decode); and, for re-renders,"
            " original (read from the kept original rather than downloaded).",
            ["source"],
            registry=registry,
        )

    def sources(self, outcome: Outcome) -> None:
        """Record where a completed or re-rendered photo's renditions came from."""
        if outcome.result not in ("completed", "rerendered"):
            return
        self._sources.labels("deduplicated" if outcome.deduplicated else "rendered").inc()
        if outcome.from_original:
            self._sources.labels("original").inc()

    def attempt(self, outcome: str, *, timings: dict[str, float] | None = None, downloaded: int = 0) -> None:
        """Record one handled message."""
        self._attempts.labels(outcome).inc()
        for stage, seconds in (timings or {}).items():
            if stage != "total":
                self._stage.labels(stage).observe(seconds)
        if downloaded:
            self._bytes.inc(downloaded)

    def rerender(self, outcome: str, *, timings: dict[str, float] | None = None, downloaded: int = 0) -> None:
        """Record one handled re-render message."""
        self._rerenders.labels(outcome).inc()
        for stage, seconds in (timings or {}).items():
            if stage != "total":
                self._stage.labels(stage).observe(seconds)
        if downloaded:
            self._bytes.inc(downloaded)

    def failed(self, code: str) -> None:
        """Record a photo set 'failed'."""
        self._failed.labels(code).inc()

    def webhook(self, outcome: str) -> None:
        """Record a webhook delivery's outcome: delivered, failed, or dead."""
        self._webhooks.labels(outcome).inc()
