"""Photo ids go to PostgreSQL as one uuid[] literal, and nothing but UUIDs can get into it."""

from __future__ import annotations

import uuid

import pytest
from psycopg2.extensions import adapt

from pipeline.uuid_array import UuidArray


def test_the_literal_is_the_array_psycopg2_would_send() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert adapt(UuidArray(ids)).getquoted() == f"'{{{','.join(ids)}}}'::uuid[]".encode()
    assert adapt(UuidArray([])).getquoted() == b"'{}'::uuid[]"


@pytest.mark.parametrize(
    "ids",
    [
        ["x'); DROP TABLE photos; --"],
        [str(uuid.uuid4()), "not-a-uuid"],
        [str(uuid.uuid4()).upper()],
        [str(uuid.uuid4()) + ","],
        [str(uuid.uuid4()) + "}"],
        [""],
    ],
    ids=["injection", "one-bad", "upper-case", "trailing-comma", "brace", "empty-string"],
)
def test_anything_but_canonical_uuids_is_refused(ids: list[str]) -> None:
    with pytest.raises(ValueError, match="canonical UUIDs"):
        UuidArray(ids)
