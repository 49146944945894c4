"""The test image server's first-byte latency (the remote benchmark's sources far away)."""

from __future__ import annotations

import threading
import time

import requests

from harness.imageserver import ImageServer

DELAY_S = 2.0


def test_a_delayed_reply_comes_after_its_delay_and_holds_no_other_request(image_server: ImageServer) -> None:
    slow = image_server.image("/latency/slow.jpg", b"slow body", delay_s=DELAY_S)
    fast = image_server.image("/latency/fast.jpg", b"fast body")
    answers: dict[str, requests.Response] = {}
    slow_took: list[float] = []

    def fetch_slow() -> None:
        """Fetch the delayed photo, noting how long it took."""
        started = time.perf_counter()
        answers["slow"] = requests.get(slow, timeout=30)
        slow_took.append(time.perf_counter() - started)

    waiter = threading.Thread(target=fetch_slow)
    waiter.start()
    while image_server.hits("/latency/slow.jpg") == 0:
        time.sleep(0.01)

    answers["fast"] = requests.get(fast, timeout=30)
    slow_still_waiting = waiter.is_alive()
    waiter.join(timeout=30)

    assert answers["fast"].content == b"fast body"
    assert slow_still_waiting
    assert answers["slow"].status_code == 200
    assert answers["slow"].content == b"slow body"
    assert slow_took[0] >= DELAY_S
