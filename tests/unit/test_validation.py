"""Parsing of POST /photos/process bodies, and of pagination cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import falcon
import pytest

from api.pagination import decode_cursor, encode_cursor
from api.validation import MAX_ITEMS, parse_photo_ids


def test_uuids_are_lower_cased_and_deduplicated_in_first_seen_order() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    body = f'["{a.upper()}", "{b}", "{a}"]'.encode()
    assert parse_photo_ids(body) == [a, b]


def test_exactly_the_maximum_number_of_items_is_accepted() -> None:
    ids = [str(uuid.uuid4()) for _ in range(MAX_ITEMS)]
    body = ("[" + ",".join(f'"{i}"' for i in ids) + "]").encode()
    assert parse_photo_ids(body) == ids


def test_one_item_over_the_maximum_is_a_413_even_with_bad_items() -> None:
    body = ("[" + ",".join(["1"] * (MAX_ITEMS + 1)) + "]").encode()
    with pytest.raises(falcon.HTTPContentTooLarge):
        parse_photo_ids(body)


def test_a_cursor_round_trips_and_a_forged_one_is_a_400() -> None:
    when = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
    photo_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(when, photo_id)) == (when, photo_id)
    for forged in ("", "!!!", "bm90IGpzb24", "WyIyMDI2LTExLTI3IiwgIngiXQ"):
        with pytest.raises(falcon.HTTPInvalidParam):
            decode_cursor(forged)
