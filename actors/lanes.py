"""The two lanes of work and their queues: new photos, and re-rendering completed ones.

New photos travel on the seed's queue `photo-processor`; re-renders on
`photo-processor.rerender`, whose actor has a lower priority (a larger number, in Dramatiq's
order): a worker serving both takes the new photos it has prefetched first, so a backlog of a
million re-renders delays a new photo by at most the photos already in its threads' hands.
Priority orders only what one worker process prefetched (ENGINEERING.md), which is why the
Procfile keeps the prefetch at one message per thread and queue. WORKER_LANES picks the lanes a
host serves: a host of its own for re-rendering keeps it off the new photos' machines entirely.
"""

from __future__ import annotations

NEW = "new"
RERENDER = "rerender"
LANES = (NEW, RERENDER)

NEW_QUEUE = "photo-processor"
RERENDER_QUEUE = "photo-processor.rerender"
QUEUES = {NEW: NEW_QUEUE, RERENDER: RERENDER_QUEUE}

# Dramatiq runs the prefetched message of the lowest priority number first (the default is 0).
NEW_PRIORITY = 0
RERENDER_PRIORITY = 100


def queues_of(lanes: tuple[str, ...]) -> set[str]:
    """The queues a worker serving `lanes` consumes."""
    return {QUEUES[lane] for lane in lanes}
