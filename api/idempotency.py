"""Idempotency-Key of POST /photos: a retried request answers the photos the first one created.

The key's row is inserted in the transaction that creates the photos, before them: a second
request with the same key waits on the primary key until the first commits (a few ms: one
multi-row insert), then finds its row and answers its photos, so two concurrent requests can
never both create photos. A key is kept RETENTION_H hours at least; older ones are deleted, a
bounded batch each time a new key is stored (no table grows unless keys are being added).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import falcon
from peewee import Database, DatabaseError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Printable ASCII, no space at either end (HTTP would strip it), 1 to MAX_KEY_LENGTH characters.
KEY_PATTERN = re.compile(rf"[\x21-\x7e](?:[\x20-\x7e]{{0,{MAX_KEY_LENGTH - 2}}}[\x21-\x7e])?")
RETENTION_H = 24
PRUNE_BATCH = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """What the first request with a key asked for (a hash of it) and what it was answered."""

    request_hash: str
    response: Any


def read_key(req: falcon.Request) -> str | None:
    """The request's Idempotency-Key, None without one; 400 when it is not a valid key."""
    key = req.get_header(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise falcon.HTTPBadRequest(
            title="Invalid Idempotency-Key",
            description=f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        )
    return key


def request_hash(*parts: object) -> str:
    """A hash of what a request asks for (its parsed body and options), to compare retries."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def take(db: Database, key: str, hashed: str) -> Recorded | None:
    """Take `key` for this request, inside the caller's transaction: None when it is ours now
    (record the answer before committing), else what the request that took it first recorded.
    An expired key (older than RETENTION_H) is taken afresh."""
    db.execute_sql(
        "DELETE FROM idempotency_keys WHERE key = %s AND created_at < now() - make_interval(hours => %s)",
        (key, RETENTION_H),
    )
    taken = db.execute_sql(
        "INSERT INTO idempotency_keys (key, request_hash, response) VALUES (%s, %s, 'null')"
        " ON CONFLICT (key) DO NOTHING RETURNING 1",
        (key, hashed),
    ).fetchone()
    if taken:
        return None
    # The first request has committed (the insert waited for it): its row is visible now.
    request, response = db.execute_sql(
        "SELECT request_hash, response FROM idempotency_keys WHERE key = %s", (key,)
    ).fetchone()
    return Recorded(request, response)


def record(db: Database, key: str, response: Any) -> None:
    """Keep the answer of the request that took `key` (in the same transaction as its work)."""
    db.execute_sql(
        "UPDATE idempotency_keys SET response = %s::json WHERE key = %s", (json.dumps(response), key)
    )


def prune(db: Database) -> None:
    """Delete a bounded batch of keys older than RETENTION_H. Best effort: a failure is logged."""
    try:
        db.execute_sql(
            "DELETE FROM idempotency_keys WHERE key = ANY(ARRAY("
            " SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)"
            " ORDER BY created_at LIMIT %s))",
            (RETENTION_H, PRUNE_BATCH),
        )
    except DatabaseError as error:
        log.warning("Could not delete expired idempotency keys: %r", error)
