"""GET /openapi.json: the OpenAPI 3 document of this API (api/openapi.json)."""

from __future__ import annotations

from pathlib import Path

import falcon

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


class OpenApiDocument:
    """Serves the document as written; tests keep it true to the routes and the answers."""

    def __init__(self) -> None:
        self._body = OPENAPI_PATH.read_bytes()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
