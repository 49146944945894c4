"""Falcon middleware: a database connection per request, given back at the end."""

from __future__ import annotations

from typing import Any

import falcon
from peewee import Database


class DatabaseSession:
    """Returns the request's pooled connection (opened lazily by the first query) to the pool."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        if not self._db.is_closed():
            self._db.close()
