"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>", checked as a receiver would."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from config import ConfigError, load_config
from harness.webhook_receiver import signature_ok
from webhooks.outbox import Event
from webhooks.sender import event_body
from webhooks.signing import sign, verify

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec-test"
BODY = b'{"id":"e1","type":"photo.completed"}'


def test_a_signature_is_the_hmac_of_the_timestamp_and_the_body() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_receiver_accepts_a_fresh_signature_of_the_same_body_and_secret() -> None:
    assert verify(SECRET, sign(SECRET, BODY), BODY)


@pytest.mark.parametrize(
    ("secret", "body", "age_s"),
    [
        ("another-secret", BODY, 0),
        (SECRET, BODY.replace(b"completed", b"failed"), 0),
        (SECRET, BODY, 301),
        (SECRET, BODY, -301),
    ],
    ids=["wrong secret", "altered body", "too old (a replay)", "from the future"],
)
def test_a_receiver_refuses_a_signature_that_does_not_match(secret: str, body: bytes, age_s: int) -> None:
    header = sign(secret, body, timestamp=int(time.time()) - age_s)
    assert not verify(SECRET, header, BODY)


FORGED = [
    "t=1700000000,v1=\u00e9",  # compare_digest raises TypeError on a str that is not ASCII
    "t=" + "9" * 400 + ",v1=00",  # int - float overflows
    "t=\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660,v1=00",  # digits, not ASCII ones
    "t=-1700000000,v1=00",
    "t= 1700000000,v1=00",
]


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage", *FORGED])
def test_a_malformed_header_is_refused(header: str) -> None:
    assert not verify(SECRET, header, BODY, now=1_700_000_000.5)


@pytest.mark.parametrize("header", FORGED)
def test_the_test_receiver_refuses_a_forged_header_without_raising(header: str) -> None:
    assert not signature_ok(SECRET, header, BODY, now=1_700_000_000.5)


def test_any_of_several_v1_signatures_may_match() -> None:
    good = sign(SECRET, BODY, timestamp=1_700_000_000)
    header = good.replace("v1=", "v1=" + "0" * 64 + ",v1=")
    assert verify(SECRET, header, BODY, now=1_700_000_000)


def test_the_body_carries_the_event_and_its_photo_with_the_thumbnails_links() -> None:
    event = Event(
        id=uuid4(),
        type="photo.completed",
        occurred_at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        photo={
            "uuid": "p1",
            "url": "https://example.com/a.jpg",
            "status": "completed",
            "created_at": "2026-12-02T07:59:00+00:00",
            "failure_reason": None,
            "thumbnails": [{"uuid": "t1", "width": 320, "height": 240, "url": "ab/p1.jpg"}],
        },
        attempts=1,
    )
    body = event_body(event, public_base_url="https://cdn.example.com/")
    assert body.startswith(
        f'{{"id":"{event.id}","type":"photo.completed","occurred_at":"2026-12-02T08:00:00+00:00"'.encode()
    )
    assert b'"href":"/thumbs/ab/p1.jpg","public_url":"https://cdn.example.com/ab/p1.jpg"' in body


def test_a_webhook_url_needs_a_secret_and_an_http_scheme() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET must be set"):
        load_config({"WEBHOOK_URL": "https://hooks.example.com/photos"})
    with pytest.raises(ConfigError, match="WEBHOOK_URL must be an http"):
        load_config({"WEBHOOK_URL": "ftp://hooks.example.com/", "WEBHOOK_SECRET": "s"})
    config = load_config({"WEBHOOK_URL": "https://hooks.example.com/photos", "WEBHOOK_SECRET": "s"})
    assert config.webhook_url == "https://hooks.example.com/photos"
    assert load_config({}).webhook_url is None


def _readme_verify() -> Callable[..., bool]:
    """The `verify` of docs/webhooks.md, run as a receiver would copy it."""
    page = (REPO / "docs" / "webhooks.md").read_text()
    [snippet] = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    namespace: dict[str, object] = {}
    exec(snippet, namespace)  # noqa: S102 (our own README)
    return namespace["verify"]  # type: ignore[return-value]


def test_the_readme_recipe_accepts_our_signature_and_refuses_a_forgery() -> None:
    verify_like_a_receiver = _readme_verify()
    assert verify_like_a_receiver(SECRET, sign(SECRET, BODY), BODY)
    assert not verify_like_a_receiver(SECRET, sign(SECRET, BODY + b" "), BODY)
    assert not verify_like_a_receiver(SECRET, sign(SECRET, BODY, timestamp=int(time.time()) - 600), BODY)
    assert not verify_like_a_receiver(SECRET, "t=x,v1=y", BODY)
    now = str(int(time.time()))
    for forged in (f"t={now},v1=\u00e9", "t=" + "9" * 400 + ",v1=00", f"t={now}\u0661,v1=00"):
        assert not verify_like_a_receiver(SECRET, forged, BODY)
