"""The API's metrics at GET /metrics: requests by route and status, latency, photos by status.

Under gunicorn the worker processes share a PROMETHEUS_MULTIPROC_DIR (set up by
api/gunicorn_conf.py before they start) and /metrics adds them up; in a single process
(tests, `python -m service`) the default registry serves.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import falcon
import prometheus_client as prom
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models import counts_by_status, db
from pipeline.host_breaker import paused_hosts

# Module level on purpose: a metric may be registered once per process, and under gunicorn the
# app module is imported once per worker, after gunicorn_conf.py chose the multiprocess mode.
REQUESTS = prom.Counter(
    "photo_processor_http_requests_total",
    "HTTP requests, by route, method and status.",
    ["route", "method", "status"],
)
LATENCY = prom.Histogram(
    "photo_processor_http_request_duration_seconds",
    "HTTP request latency, by route and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The methods a client may send are unbounded (any token); so that a label cannot be made to
# grow by them, only the standard ones (RFC 9110, and PATCH) are named, the rest are "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def method_label(method: str) -> str:
    """The request method as a metric label: a standard method, or "other"."""
    return method if method in METHODS else "other"


class RequestMetrics:
    """Falcon middleware timing every request and counting it by route template and status."""

    def __init__(self) -> None:
        # Each series' child, found once: `labels()` checks and joins its values under a lock
        # at every call. Bounded as the labels are: routes x methods x statuses.
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "metrics_started", None)
        # The route template, not the path: one series per route, whatever paths are asked for
        # (an unknown path is "unmatched"). Labels never take a value from the client as sent.
        route = req.uri_template or "unmatched"
        method = method_label(req.method)
        status = str(resp.status_code)
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters.setdefault(key, REQUESTS.labels(*key))
        counter.inc()
        if started is not None:
            timer = self._timers.get((route, method))
            if timer is None:
                timer = self._timers.setdefault((route, method), LATENCY.labels(route, method))
            timer.observe(time.perf_counter() - started)


class PhotoStatusCollector(Collector):
    """Photos by status, counted in the database when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = counts_by_status()
        family = GaugeMetricFamily("photo_processor_photos", "Photos, by status.", labels=["status"])
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family
        # The source hosts paused by the breaker (pipeline/host_breaker.py), 1 each while paused.
        hosts = GaugeMetricFamily(
            "photo_processor_source_host_paused",
            "Source hosts whose photos wait after repeated failures (1 while paused or probed).",
            labels=["host"],
        )
        for paused in paused_hosts(db):
            hosts.add_metric([paused["host"]], 1)
        yield hosts


class MetricsEndpoint:
    """GET /metrics in Prometheus' text format."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        registry = prom.CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            for collector in (REQUESTS, LATENCY):
                registry.register(collector)
        registry.register(PhotoStatusCollector())
        resp.content_type = prom.CONTENT_TYPE_LATEST
        resp.data = prom.generate_latest(registry)
