"""What operators see: the worker's and the API's Prometheus metrics, and JSON log lines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.service_processes import ServiceProcess, free_port, running, start_api, start_worker
from tests.e2e.conftest import wait_for_status
from tests.support.data import insert_photo
from tests.support.images import photo_bytes


@pytest.fixture(scope="module")
def observed(
    service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ServiceProcess, int]]:
    """An API and a worker logging JSON, the worker serving metrics on a port of its own."""
    log_dir = tmp_path_factory.mktemp("observed")
    metrics_port = free_port()
    env = {
        **service_env,
        "LOG_FORMAT": "json",
        "WORKER_METRICS_PORT": str(metrics_port),
        "dramatiq_prom_db": str(tmp_path_factory.mktemp("observed-metrics")),
    }
    api, base_url = start_api(env, log_dir)
    with running(api), running(start_worker(env, log_dir)) as worker:
        yield base_url, worker, metrics_port


def _unseen_photo() -> bytes:
    """Bytes no earlier test's photo had (a unique JPEG comment): a photo with the same bytes as
    one already completed takes its renditions without a decode (pipeline/duplicates.py), and
    this test needs every stage to run."""
    return photo_bytes(800, 600, comment=uuid.uuid4().bytes)


def _values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_processed_photo_shows_in_worker_metrics_api_metrics_and_one_json_log_line(
    observed: tuple[str, ServiceProcess, int], database: Database, image_server: ImageServer
) -> None:
    base_url, worker, metrics_port = observed
    photo_id = insert_photo(database, image_server.image(f"/{uuid.uuid4()}.jpg", _unseen_photo()))
    assert requests.post(f"{base_url}/photos/process", json=[photo_id], timeout=10).status_code == 202
    assert wait_for_status(database, photo_id, "completed", "failed") == "completed"

    def scrape() -> str:
        try:
            return requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        except requests.RequestException:
            return ""

    text = wait_until(
        lambda: (
            (t := scrape())
            and _values(t, "photo_processor_attempts_total").get((("outcome", "completed"),))
            and t
        ),
        timeout=30,
        message="worker metrics show the completed photo",
    )
    assert (
        _values(text, "dramatiq_messages_total")[
            (("actor_name", "process_photo"), ("queue_name", "photo-processor"))
        ]
        >= 1
    )
    stages = _values(text, "photo_processor_stage_seconds_count")
    for stage in ("claim", "download", "decode", "encode", "store", "database"):
        assert stages[(("stage", stage),)] >= 1, stage
    assert _values(text, "photo_processor_downloaded_bytes_total")[()] > 0

    api_metrics = requests.get(f"{base_url}/metrics", timeout=5).text
    posted = _values(api_metrics, "photo_processor_http_requests_total")
    assert posted[(("method", "POST"), ("route", "/photos/process"), ("status", "202"))] >= 1
    assert _values(api_metrics, "photo_processor_photos")[(("status", "completed"),)] >= 1

    lines = wait_until(
        lambda: [line for line in _json_lines(worker.log_path) if line.get("photo") == photo_id],
        timeout=10,
        message="the worker's JSON line for the photo",
    )
    [line] = lines
    assert line["outcome"] == "completed"
    assert line["message_id"]
    assert line["bytes"] > 0
    for field in ("claim_ms", "download_ms", "decode_ms", "encode_ms", "store_ms", "database_ms", "total_ms"):
        assert line[field] >= 0, field
