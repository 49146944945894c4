"""API_TOKEN: when set, requests need `Authorization: Bearer <token>`, compared in constant time.

Left open: /healthz (load balancers and orchestrators probe it), the dashboard's page and its
static files (they hold no data; the page asks for the token and sends it on every call), and
the demo photos (sample files the worker itself downloads).
"""

from __future__ import annotations

import hmac

import falcon

PUBLIC_PATHS = frozenset({"/healthz", "/"})
PUBLIC_PREFIXES = ("/static/", "/demo/")


def is_public(path: str) -> bool:
    """Whether `path` is served without the token."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class BearerToken:
    """Falcon middleware refusing requests without the right bearer token (401, JSON)."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if is_public(req.path):
            return
        scheme, _, given = (req.auth or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._expected):
            raise falcon.HTTPUnauthorized(
                title="Authentication required",
                description="Send the API token as 'Authorization: Bearer <token>'.",
                challenges=['Bearer realm="photo-processor"'],
            )
