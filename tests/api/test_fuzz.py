"""Property-based fuzzing of every documented operation (schemathesis): no 5xx, ever, and every
answer in the documented schema: status code, content type, body and headers.

The app runs in-process on the real database and RabbitMQ vhost, with a few photos present so
that some generated UUIDs hit and some requests queue real messages.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from peewee import Database

from api.pagination import encode_cursor
from api.resources.openapi import OPENAPI_PATH
from tests.support.data import insert_photo

EXAMPLES_PER_OPERATION = 60
SUMMARY = Path(__file__).resolve().parents[2] / "test-artifacts" / "fuzz-summary.json"
seen: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_summary() -> Iterator[Counter[str]]:
    """Counts the cases and their status classes; written to test-artifacts/ for the record."""
    yield seen
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text(
        json.dumps({"cases": sum(seen.values()), "by_status": dict(sorted(seen.items()))}, indent=2)
    )
    print(f"\nfuzz: {sum(seen.values())} cases, by status: {dict(sorted(seen.items()))}")


# Cursors are opaque: only those the API gave out are valid, so valid ones are made the same way.
schemathesis.openapi.format(
    "cursor",
    st.builds(
        encode_cursor,
        st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
        st.uuids(),
    ),
)

# Photo URLs the API accepts (POST /photos): absolute http or https, a host, no whitespace.
schemathesis.openapi.format(
    "photo-url",
    st.builds(
        "{}://{}/{}".format,
        st.sampled_from(["http", "https", "HTTP"]),
        st.from_regex(r"[a-z0-9]{1,20}(\.[a-z]{2,6})?(:[1-9][0-9]{0,3})?", fullmatch=True),
        st.text(alphabet=string.ascii_letters + string.digits + "-._~/%?=&", max_size=200),
    ),
)

# Loaded from the file (what /openapi.json serves); the app is passed per call below. The
# fixture-based loader of schemathesis 4.32 does not work with pytest 9.
schema = schemathesis.openapi.from_path(OPENAPI_PATH)


@pytest.fixture
def app(client: falcon.testing.TestClient, database: Database) -> Any:
    for status in ("pending", "failed", "completed", "processing"):
        insert_photo(database, status=status)
    return client.app


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
def test_no_operation_answers_5xx_or_outside_its_documented_schema(
    case: Any, app: Any, fuzz_summary: Counter[str]
) -> None:
    response = case.call_and_validate(app=app)
    seen[f"{response.status_code // 100}xx"] += 1
    assert response.status_code < 500
