"""The API suite: requests per second and latency under load, as wrk measures them.

gunicorn as the Procfile runs it, with the production defaults (WEB_WORKERS processes of WEB_THREADS threads) and
an API token set, on this run's own database holding 100,000 pending photos inserted as an
import leaves them (one statement: one created_at). wrk (the Debian package: `apt-get install
wrk`) runs on the same 2 cores: 2 threads, 20 connections, 8 s per route, after a warm-up.
Then the same with gunicorn's stock gthread worker in place of ours (api/http_worker.py),
to show what reading each request in the event loop (the slow-client protection) costs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.environment import Bench, bench_environment
from bench.report import Section, Target
from config import Config
from harness.service_processes import start_api

PENDING = 100_000
TOKEN = "bench-api-load-token"  # noqa: S105 (the run's own API)
ROUTES = {
    "limit=10": "/photos/pending?limit=10",
    "limit=100": "/photos/pending?limit=100",
    "stats": "/stats",
    "healthz": "/healthz",
}
TARGETED = ("limit=10", "stats")
TARGET_RATE = 1500
TARGET_P99_MS = 50.0
WRK = ("-t2", "-c20", "--latency")
WORKERS = {"ours": (), "stock gthread": ("--worker-class", "gthread")}
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What wrk measured of one route."""

    rate: float  # requests per second
    p50_ms: float
    p99_ms: float
    requests: int


def run(quick: bool) -> Section:
    """Measure each route with our worker and with stock gthread."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the api suite needs wrk: apt-get install wrk")
    seconds = 3 if quick else 8
    defaults = Config()
    loads: dict[str, dict[str, Load]] = {}
    with bench_environment() as bench:
        Path(bench.env["THUMBS_DIR"]).mkdir(parents=True)  # the worker's to make; none runs here
        _insert_pending(bench, 20_000 if quick else PENDING)
        env = {**bench.env, "API_TOKEN": TOKEN}
        for worker, args in WORKERS.items():
            api, base_url = start_api(
                env,
                bench.log_dir,
                workers=defaults.web_workers,
                threads=defaults.web_threads,
                gunicorn_args=args,
                name=f"api-{worker.replace(' ', '-')}",
            )
            try:
                loads[worker] = {name: _load(wrk, base_url, path, seconds) for name, path in ROUTES.items()}
            finally:
                api.stop()
    return _section(loads, defaults, seconds, 20_000 if quick else PENDING)


def _insert_pending(bench: Bench, count: int) -> None:
    """`count` pending photos from one statement, as `python -m service import` writes a batch."""
    bench.db.execute_sql(
        "INSERT INTO photos (url) SELECT 'http://127.0.0.1:9/' || n FROM generate_series(1, %s) n", (count,)
    )
    bench.db.execute_sql("VACUUM ANALYZE photos")


def _load(wrk: str, base_url: str, path: str, seconds: int) -> Load:
    """wrk against `path` for `seconds`, after a check of the answer and a 2 s warm-up."""
    url = f"{base_url}{path}"
    header = f"Authorization: Bearer {TOKEN}"
    answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:200]}")
    _wrk(wrk, [*WRK, "-d2s", "-H", header, url])
    return _parse(_wrk(wrk, [*WRK, f"-d{seconds}s", "-H", header, url]), path)


def _wrk(wrk: str, args: list[str]) -> str:
    done = subprocess.run([wrk, *args], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def _parse(output: str, path: str) -> Load:
    """Requests/s and the 50th and 99th percentiles from wrk's --latency output; every answer 2xx."""
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    if bad or errors:
        raise RuntimeError(f"wrk against {path}: {output}")

    def percentile(name: str) -> float:
        found = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no {name}th percentile in wrk's output: {output}")
        return float(found[1]) * UNITS_MS[found[2]]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise RuntimeError(f"no rate in wrk's output: {output}")
    return Load(float(rate[1]), percentile("50"), percentile("99"), int(count[1]))


def _section(loads: dict[str, dict[str, Load]], defaults: Config, seconds: int, pending: int) -> Section:
    ours, stock = loads["ours"], loads["stock gthread"]
    section = Section("API under load (wrk)")
    for name in TARGETED:
        load = ours[name]
        section.targets.append(
            Target(
                f"GET {ROUTES[name]} under wrk -t2 -c20, {pending:,} pending",
                f"{load.rate:,.0f} req/s, p99 {load.p99_ms:.1f} ms (p50 {load.p50_ms:.1f})",
                f"≥ {TARGET_RATE:,} req/s, p99 ≤ {TARGET_P99_MS:.0f} ms",
                load.rate >= TARGET_RATE and load.p99_ms <= TARGET_P99_MS,
                "wrk on the same 2 cores",
            )
        )
    ratio = ours["limit=10"].rate / stock["limit=10"].rate
    section.targets.append(
        Target(
            f"our worker (slow clients hold no thread) against stock gthread, GET {ROUTES['limit=10']}",
            f"{ratio:.2f} × ({ours['limit=10'].rate:,.0f} vs {stock['limit=10'].rate:,.0f} req/s)",
            "≥ 0.9 × stock gthread",
            ratio >= 0.9,
        )
    )
    section.table(
        ["route", "worker", "req/s", "p50 ms", "p99 ms", "requests"],
        [
            [
                f"GET {path}",
                worker,
                f"{load.rate:,.0f}",
                f"{load.p50_ms:.1f}",
                f"{load.p99_ms:.1f}",
                f"{load.requests:,}",
            ]
            for name, path in ROUTES.items()
            for worker, load in ((worker, loads[worker][name]) for worker in WORKERS)
        ],
    )
    section.body.append(
        f"`wrk {' '.join(WRK)} -d{seconds}s` per route, after a 2 s warm-up, from the same 2 cores as "
        f"the API, PostgreSQL and RabbitMQ; gunicorn with the production defaults ({defaults.web_workers} "
        f"processes × {defaults.web_threads} threads), an API token sent on every request, the access "
        f"log on (JSON lines); {pending:,} pending photos from one INSERT, so sharing one created_at. "
        '/healthz asks PostgreSQL, RabbitMQ and the thumbnails\' store each time. "stock gthread" is '
        "the same configuration with `--worker-class gthread`: no protection from slow clients."
    )
    return section
