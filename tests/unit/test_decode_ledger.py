"""One decode budget shared by the threads of a worker process (pipeline/decode_ledger.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.polling import wait_until
from pipeline.decode_ledger import DecodeLedger, return_freed_memory
from pipeline.errors import ImageTooLarge
from pipeline.thumbnail import make_thumbnail
from tests.unit.thumbnail_images import card, encode

LIMIT = 100


@contextmanager
def holding(ledger: DecodeLedger, nbytes: int) -> Iterator[tuple[threading.Event, threading.Event]]:
    """A thread reserving `nbytes` and holding them until the second event is set."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        """Reserve, say so, and hold until told to give back."""
        with ledger.reserve(nbytes, limit=LIMIT):
            entered.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        yield entered, release
    finally:
        release.set()
        thread.join(timeout=30)


def test_a_reservation_that_does_not_fit_waits_until_the_others_give_theirs_back() -> None:
    ledger = DecodeLedger()
    with holding(ledger, 60) as (first, release_first):
        first.wait(timeout=30)
        with holding(ledger, 60) as (second, release_second):
            wait_until(lambda: ledger.waiting == 1, timeout=30, message="second waiting")
            assert not second.is_set()
            assert ledger.in_use == 60
            release_first.set()
            assert second.wait(timeout=30)
            assert ledger.in_use == 60
            release_second.set()
    assert ledger.in_use == 0
    assert ledger.waiting == 0


def test_reservations_enter_in_arrival_order_even_when_a_later_one_would_fit() -> None:
    ledger = DecodeLedger()
    with holding(ledger, 60) as (first, release_first):
        first.wait(timeout=30)
        with holding(ledger, 60) as (large, _):
            wait_until(lambda: ledger.waiting == 1, timeout=30, message="large waiting")
            with holding(ledger, 10) as (small, _):
                wait_until(lambda: ledger.waiting == 2, timeout=30, message="small waiting")
                assert not large.is_set()
                assert not small.is_set()
                release_first.set()
                assert large.wait(timeout=30)
                assert small.wait(timeout=30)
                assert ledger.in_use == 70
    assert ledger.in_use == 0


def test_one_reservation_alone_enters_whatever_its_size() -> None:
    ledger = DecodeLedger()
    with ledger.reserve(LIMIT * 3, limit=LIMIT):
        assert ledger.in_use == LIMIT * 3
    assert ledger.in_use == 0


def test_a_thumbnail_gives_back_its_reservation_and_a_refused_image_takes_none() -> None:
    ledger = DecodeLedger()
    assert make_thumbnail(encode(card((1200, 800)), "JPEG"), ledger=ledger).width == 320
    assert ledger.in_use == 0
    with pytest.raises(ImageTooLarge):
        make_thumbnail(encode(card((600, 400)), "PNG"), max_decode_mb=16, ledger=ledger)
    assert ledger.in_use == 0


def test_this_process_can_be_made_to_return_freed_memory_at_once() -> None:
    assert return_freed_memory()
