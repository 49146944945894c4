"""GET /metrics: requests by route and status, latency, and photos by status, for Prometheus."""

from __future__ import annotations

import falcon.testing
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from tests.support.data import insert_photo


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_route_template_and_photos_by_status(
    client: falcon.testing.TestClient, database: Database
) -> None:
    insert_photo(database)
    insert_photo(database, status="failed")
    before = _samples(client.simulate_get("/metrics").text)
    photo_id = insert_photo(database)
    client.simulate_get(f"/photos/{photo_id}")
    client.simulate_get("/photos/not-a-uuid")

    result = client.simulate_get("/metrics")

    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/plain")
    after = _samples(result.text)
    ok = (
        "photo_processor_http_requests_total",
        (("method", "GET"), ("route", "/photos/{photo_id}"), ("status", "200")),
    )
    bad = (
        "photo_processor_http_requests_total",
        (("method", "GET"), ("route", "/photos/{photo_id}"), ("status", "400")),
    )
    assert after[ok] - before.get(ok, 0) == 1
    assert after[bad] - before.get(bad, 0) == 1
    assert after[("photo_processor_photos", (("status", "pending"),))] == 2
    assert after[("photo_processor_photos", (("status", "failed"),))] == 1
    assert after[("photo_processor_photos", (("status", "completed"),))] == 0
    latency = (
        "photo_processor_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/photos/{photo_id}")),
    )
    assert after[latency] - before.get(latency, 0) == 2
