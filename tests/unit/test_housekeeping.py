"""The worker's housekeeping pass: each step runs whatever the steps before it did."""

from __future__ import annotations

import logging

import pytest

from pipeline.reconcile import ReconcilerThread


def test_a_step_that_raises_is_logged_and_the_next_steps_still_run(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def reconcile() -> None:
        ran.append("reconcile")
        raise ConnectionError("the broker is down")

    steps = {"reconcile": reconcile, "retry removals": lambda: ran.append("retry removals")}
    with caplog.at_level(logging.ERROR, logger="pipeline.reconcile"):
        ReconcilerThread(steps, interval_s=60).run_pass()

    assert ran == ["reconcile", "retry removals"]
    (record,) = caplog.records
    assert "'reconcile' failed" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)
