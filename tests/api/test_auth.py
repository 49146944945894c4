"""API_TOKEN: every route but /healthz (and the dashboard shell and demo files) needs the token."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import falcon.testing
import pytest
from peewee import Database

from api.app import create_app
from api.checks import database_check
from config import Config
from publishing import one_at_a_time
from tests.support.data import insert_photo

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def locked(config: Config, database: Database, actors_package: Any) -> falcon.testing.TestClient:
    app = create_app(
        replace(config, api_token=TOKEN),
        db=database,
        publish=one_at_a_time(actors_package.process_photo.send),
        health_checks={"database": functools.partial(database_check, database)},
    )
    return falcon.testing.TestClient(app)


ROUTES = [
    ("GET", "/photos/pending"),
    ("GET", "/photos"),
    ("GET", "/photos/00000000-0000-4000-8000-000000000000"),
    ("POST", "/photos/process"),
    ("GET", "/stats"),
    ("GET", "/thumbs/00/00000000-0000-4000-8000-000000000000.jpg"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}"],
    ids=["missing", "wrong", "other scheme", "empty", "longer", "shorter"],
)
def test_a_missing_or_wrong_token_is_a_401_json_error(
    locked: falcon.testing.TestClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    result = locked.simulate_request(method, path, headers=headers, json=[])
    assert result.status_code == 401
    assert result.json["title"] == "Authentication required"
    assert result.headers["www-authenticate"].startswith("Bearer")


def test_the_right_token_opens_every_route(locked: falcon.testing.TestClient, database: Database) -> None:
    photo_id = insert_photo(database, status="completed")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert locked.simulate_get("/photos/pending", headers=headers).status_code == 200
    assert locked.simulate_get(f"/photos/{photo_id}", headers=headers).status_code == 200
    assert locked.simulate_post("/photos/process", headers=headers, json=[photo_id]).status_code == 202


def test_healthz_needs_no_token(locked: falcon.testing.TestClient) -> None:
    assert locked.simulate_get("/healthz").status_code == 200


def test_without_api_token_the_api_is_open(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/stats").status_code == 200
