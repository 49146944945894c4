"""The breaker on the webhook receiver: failures in a row open it, pauses double, a probe closes it."""

from __future__ import annotations

from uuid import uuid4

from webhooks.breaker import FAILURES_TO_OPEN, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _opened(clock: Clock) -> Breaker:
    breaker = Breaker(max_pause_s=5, clock=clock)
    for _ in range(FAILURES_TO_OPEN):
        assert breaker.room(4) == 4
        breaker.record(uuid4(), outage=True)
    return breaker


def test_outage_failures_in_a_row_open_it_and_nothing_is_claimed_during_the_pause() -> None:
    clock = Clock()
    breaker = _opened(clock)
    assert breaker.is_open
    assert breaker.room(4) == 0
    clock.now += 0.9
    assert breaker.room(4) == 0


def test_after_the_pause_one_probe_and_a_failed_probe_doubles_the_pause_up_to_the_max() -> None:
    clock = Clock()
    breaker = _opened(clock)
    pauses = []
    for _ in range(5):
        start = clock.now
        while breaker.room(4) == 0:
            clock.now += 0.25
        pauses.append(clock.now - start)
        assert breaker.room(4) == 1, "one probe"
        probe = uuid4()
        breaker.claimed([probe])
        assert breaker.room(4) == 0, "no other claim while the probe is in flight"
        breaker.record(uuid4(), outage=False)  # a delivery from before the opening: ignored
        assert breaker.is_open
        breaker.record(probe, outage=True)
    assert pauses == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_probe_that_gets_through_closes_it() -> None:
    clock = Clock()
    breaker = _opened(clock)
    clock.now += 1
    probe = uuid4()
    breaker.claimed([probe])
    breaker.record(probe, outage=False)
    assert not breaker.is_open
    assert breaker.room(4) == 4


def test_failures_that_are_not_outages_or_a_success_between_them_keep_it_closed() -> None:
    breaker = Breaker(max_pause_s=5, clock=Clock())
    for _ in range(3 * FAILURES_TO_OPEN):
        breaker.record(uuid4(), outage=False)  # e.g. a 400 for this event
    for _ in range(FAILURES_TO_OPEN - 1):
        breaker.record(uuid4(), outage=True)
    breaker.record(uuid4(), outage=False)
    for _ in range(FAILURES_TO_OPEN - 1):
        breaker.record(uuid4(), outage=True)
    assert not breaker.is_open
