"""The signature of a webhook delivery: HMAC-SHA256 of "<timestamp>.<body>", as Stripe signs.

A receiver checks it with `verify` (or the few lines of docs/webhooks.md, which do the same): the header
carries the Unix time it was signed at and the hex digest, `t=<unix>,v1=<hex>`. Signing the time
with the body lets a receiver refuse a captured request replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Photo-Processor-Signature"
EVENT_ID_HEADER = "Photo-Processor-Event-Id"
# How old a signature a receiver should still accept (our advice, and `verify`'s default).
TOLERANCE_S = 300
MAX_TIMESTAMP_DIGITS = 12


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header's value for `body`, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={digest(secret, at, body)}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance_s: int = TOLERANCE_S, now: float | None = None
) -> bool:
    """Whether `header` signs `body` under `secret`, at a time within `tolerance_s` of `now`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    t = fields.get("t", [""])[0]
    # Digits only, and no more than a Unix time has for ages: int() of anything else (or of 400
    # digits, past what a float compares with) must not raise on a forged header.
    if not (t.isascii() and t.isdigit() and len(t) <= MAX_TIMESTAMP_DIGITS):
        return False
    timestamp = int(t)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = digest(secret, timestamp, body).encode()
    # Any v1 may match (a receiver may get several while a secret is being rolled over). Compared
    # as bytes: compare_digest refuses a str that is not ASCII.
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in fields.get("v1", []))
