"""GET /metrics: requests by route and status, latency, and photos by status, for Prometheus."""

from __future__ import annotations

import falcon.testing
import pytest
from peewee import Database
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import METHODS
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


def _label_values(text: str, label: str) -> set[str]:
    """The values `label` takes in the request counter's samples."""
    return {
        dict(labels)[label]
        for name, labels in _samples(text)
        if name == "photo_processor_http_requests_total"
    }


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")  # wsgiref's validator, in TestClient
def test_made_up_methods_and_unknown_paths_are_counted_under_bounded_labels(
    client: falcon.testing.TestClient,
) -> None:
    before = _samples(client.simulate_get("/metrics").text)
    for number in range(300):
        client.simulate_request(f"MADEUP{number}", "/photos")
        client.simulate_get(f"/no/such/path/{number}")
    client.simulate_request("get", "/photos")  # methods are case-sensitive: this is not GET

    text = client.simulate_get("/metrics").text
    after = _samples(text)

    assert _label_values(text, "method") <= METHODS | {"other"}
    assert "unmatched" in _label_values(text, "route")
    assert not any(route.startswith("/no/") for route in _label_values(text, "route"))
    # Falcon answers an unknown method 400, before routing.
    other = [key for key in after if key[0].endswith("_requests_total") and ("method", "other") in key[1]]
    assert sum(after[key] - before.get(key, 0) for key in other) == 301
    unmatched = (
        "photo_processor_http_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert after[unmatched] - before.get(unmatched, 0) == 300
    # 601 requests add 2 series at most (other, 400; GET, unmatched, 404), and /metrics' own.
    new_series = {key for key in set(after) - set(before) if key[0] == "photo_processor_http_requests_total"}
    assert len(new_series) <= 3, sorted(new_series)
