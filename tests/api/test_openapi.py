"""The OpenAPI document at /openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

import json
import re

import falcon.inspect
import falcon.testing

from api.resources.openapi import OPENAPI_PATH

# Served but deliberately not in the document: the demo files (a static folder for the demo).
UNDOCUMENTED = {("GET", "/demo/{}")}
# Documented, and served through another route: Falcon's router cannot hold /thumbs/{path:path}
# beside fixed-depth templates, so the renditions go through it (api/resources/renditions.py).
SERVED_THROUGH = {
    "/thumbs/{uuid}/{preset}": "/thumbs/{path}",
    "/thumbs/{uuid}/{preset}.{ext}": "/thumbs/{path}",
}


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_route_of_the_app_is_in_the_document_and_every_documented_route_exists(
    client: falcon.testing.TestClient,
) -> None:
    served = {
        (method.method, _normalise(route.path))
        for route in falcon.inspect.inspect_routes(client.app)
        for method in route.methods
        if not method.internal
    }
    served |= {
        ("GET", _normalise(f"{static.prefix.rstrip('/')}/{{}}"))
        for static in falcon.inspect.inspect_static_routes(client.app)
    }
    document = json.loads(OPENAPI_PATH.read_text())
    documented = {
        (method.upper(), _normalise(SERVED_THROUGH.get(path, path)))
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert served - UNDOCUMENTED == documented
    for path, through in SERVED_THROUGH.items():
        assert document["paths"][path].keys() == document["paths"][through].keys(), path


def test_the_document_is_served_as_json(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200
    assert result.json["openapi"].startswith("3.")
    assert result.json == json.loads(OPENAPI_PATH.read_text())
