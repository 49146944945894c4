"""Checking an answer against the schema api/openapi.json gives it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

from api.resources.openapi import OPENAPI_PATH


def assert_documented(path: str, method: str, status: int, body: Any) -> None:
    """Fail unless `body` is valid against the document's JSON schema of that response."""
    document = json.loads(OPENAPI_PATH.read_text())
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]
    # The document's components at the root, so that its "#/components/..." references resolve.
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
    errors = [error.message for error in validator.iter_errors(body)]
    assert errors == [], f"{method.upper()} {path} {status}: {errors}"
