"""GET /healthz: 200 when the database, the broker and the thumbnails' store answer, 503 naming
the part that does not.

The route is public (probes send no token), so it says only up or down per part: the driver's
error names hosts, ports and databases, and goes to the log instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import falcon

log = logging.getLogger(__name__)


class Health:
    """Checks each dependency with a cheap round trip; never raises."""

    def __init__(self, checks: dict[str, Callable[[], None]]) -> None:
        self._checks = checks

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        parts = {}
        for name, check in self._checks.items():
            try:
                check()
                parts[name] = {"status": "up"}
            except Exception as error:
                log.warning("Health check of %s failed: %r", name, error)
                parts[name] = {"status": "down"}
        healthy = all(part["status"] == "up" for part in parts.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.media = {"status": "up" if healthy else "down", **parts}
