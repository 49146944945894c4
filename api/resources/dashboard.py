"""GET / (the dashboard page) and GET /static/{name} (its script and style sheet).

The files live in api/static and hold no data: the page reads everything from the JSON API
with the browser's fetch, sending the API token itself when API_TOKEN is set (see api/auth.py,
which leaves these two routes open). They are read from disk on each request (they are small)
and answered with `Cache-Control: no-cache` and an ETag, so a browser revalidates each time
(a 304 when unchanged) and a deploy reaches it at once, without cache-busting names.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import falcon

from api.caching import not_modified

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_ROUTE = "/static"
CACHE_CONTROL = "no-cache"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# A flat name with a known extension: no slash, no leading dot, so nothing outside STATIC_DIR.
# Not .html: the page is served at / only, with its Content-Security-Policy.
STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.(?:js|css|svg|png)")
# The page, its script and its style come from this origin only; images may be blob: URLs:
# renditions fetched with the token, and the ThumbHash placeholders (thumbHashToBlobURL, so that
# no data: is needed). Nothing is loaded from elsewhere, and nothing may frame the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _serve(req: falcon.Request, resp: falcon.Response, file: Path) -> None:
    """Answer with `file`, or 304 when the client's ETag matches its content."""
    try:
        body = file.read_bytes()
    except OSError:
        raise falcon.HTTPNotFound(title="Not found", description="No such dashboard file.") from None
    resp.set_header("X-Content-Type-Options", "nosniff")
    if not_modified(req, resp, etag=hashlib.sha256(body).hexdigest()[:32], cache_control=CACHE_CONTROL):
        return
    resp.content_type = MEDIA_TYPES[file.suffix]
    resp.data = body


class Dashboard:
    """The dashboard page: api/static/index.html."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _serve(req, resp, STATIC_DIR / "index.html")
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.set_header("Referrer-Policy", "no-referrer")


class StaticFile:
    """A file of api/static by its name (flat: the folder has no subfolders)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if not STATIC_NAME.fullmatch(name):
            raise falcon.HTTPNotFound(title="Not found", description="No such dashboard file.")
        _serve(req, resp, STATIC_DIR / name)
