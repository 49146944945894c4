"""The breaker per source host (pipeline/host_breaker.py) on the real database: shared by every
worker, it pauses a failing host, lets one probe through per pause, and closes on a success;
and the per-process limit of downloads from one host."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from peewee import Database

from pipeline.errors import classify
from pipeline.host_breaker import HostBreaker, HostBusy, HostPaused, host_of, paused_hosts


@pytest.fixture(autouse=True)
def no_hosts(database: Database) -> Iterator[None]:
    database.execute_sql("DELETE FROM source_hosts")
    yield
    database.execute_sql("DELETE FROM source_hosts")


def breaker(**overrides: float) -> HostBreaker:
    settings = {"max_per_host": 2, "failures_to_pause": 3, "pause_s": 30.0, "probe_s": 60.0, **overrides}
    return HostBreaker(
        max_per_host=int(settings["max_per_host"]),
        failures_to_pause=int(settings["failures_to_pause"]),
        pause_s=settings["pause_s"],
        probe_s=settings["probe_s"],
    )


def test_a_host_is_its_name_and_port_in_lowercase() -> None:
    assert host_of("http://Example.COM/a.jpg") == "example.com"
    assert host_of("https://127.0.0.1:8443/x?y") == "127.0.0.1:8443"


def test_a_host_is_paused_after_its_threshold_of_failures_in_a_row_and_its_photos_wait(
    database: Database,
) -> None:
    one, other = breaker(), breaker()  # two worker processes
    assert one.failed(database, "bad:1", "refused") is False
    assert other.failed(database, "bad:1", "refused") is False, "the fleet's failures add up"
    assert one.failed(database, "bad:1", "refused") is True
    with pytest.raises(HostPaused) as paused, other.slot(database, "bad:1"):
        pass
    assert 29_000 < paused.value.retry_after_ms <= 30_100
    failure = classify(paused.value)
    assert (failure.transient, failure.outage) == (True, True), "waits, spending no attempt"
    with other.slot(database, "good:1"):
        pass  # another host goes on
    [shown] = paused_hosts(database)
    assert (shown["host"], shown["failures"], shown["last_error"]) == ("bad:1", 3, "refused")


def test_a_success_below_the_threshold_starts_the_count_again(database: Database) -> None:
    gate = breaker()
    gate.failed(database, "flaky:1", "503")
    gate.failed(database, "flaky:1", "503")
    with gate.slot(database, "flaky:1") as failing:
        assert failing, "the host has failures on record"
    gate.succeeded(database, "flaky:1")
    assert gate.failed(database, "flaky:1", "503") is False
    assert gate.failed(database, "flaky:1", "503") is False


def test_after_the_pause_one_worker_of_many_probes_and_its_verdict_decides(database: Database) -> None:
    gates = [breaker(failures_to_pause=1) for _ in range(4)]  # four workers: the test pool's size
    gates[0].failed(database, "back:1", "refused")
    database.execute_sql("UPDATE source_hosts SET paused_until = now() - interval '1 second'")
    probes: list[int] = []
    waits: list[int] = []
    start = threading.Barrier(len(gates))

    def try_host(index: int) -> None:
        with database.connection_context():
            start.wait()
            try:
                with gates[index].slot(database, "back:1"):
                    probes.append(index)
            except HostPaused:
                waits.append(index)

    threads = [threading.Thread(target=try_host, args=(index,)) for index in range(len(gates))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(probes) == 1, "one probe per pause"
    assert len(waits) == len(gates) - 1

    # The probe failed: paused again at once, whatever the threshold.
    assert gates[probes[0]].failed(database, "back:1", "refused again") is True
    database.execute_sql("UPDATE source_hosts SET paused_until = now() - interval '1 second'")
    with gates[1].slot(database, "back:1"):
        pass  # the next pause's probe
    gates[1].succeeded(database, "back:1")
    assert paused_hosts(database) == []
    with gates[2].slot(database, "back:1") as failing:
        assert not failing, "closed: no record left"


def test_a_process_takes_at_most_max_per_host_downloads_from_one_host(database: Database) -> None:
    gate = breaker(max_per_host=2)
    with gate.slot(database, "slow:1"), gate.slot(database, "slow:1"):
        with pytest.raises(HostBusy) as busy, gate.slot(database, "slow:1"):
            pass
        assert classify(busy.value).outage
        with gate.slot(database, "fast:1"):
            pass  # another host is not held up
    with gate.slot(database, "slow:1"):
        pass  # the slots came back
