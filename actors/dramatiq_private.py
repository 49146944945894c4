"""The one private part of Dramatiq we use, kept here with its test (tests/unit/test_dramatiq_private.py).

WORKER_LANES is read in config.py, where every setting is, so the worker picks its queues
itself rather than through `dramatiq --queues` on the command line: at `before_worker_boot`,
before any consumer starts, it narrows the worker's consumer whitelist (what `--queues` sets).
Dramatiq drops a consumer, of a queue or of its delay queue, whose canonical queue is not in it.
"""

from __future__ import annotations

from typing import Any


def serve_only(worker: Any, queues: set[str]) -> None:
    """Let `worker` consume only `queues` (and their delay queues), within what --queues allowed."""
    allowed = worker.consumer_whitelist
    serving = set(queues) & set(allowed) if allowed else set(queues)
    if not serving:
        # An empty whitelist means "every queue" to Dramatiq: never let it become one.
        raise RuntimeError(
            f"WORKER_LANES and --queues have no queue in common ({sorted(queues)}, {sorted(allowed)})"
        )
    worker.consumer_whitelist = serving
