"""The boto3 S3 client as every S3-compatible server takes it, and its errors in an operator's words."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.handlers import add_expect_header

CLIENT_CONFIG = BotoConfig(
    # botocore >= 1.36 adds CRC checksums by default, which several S3-compatible servers refuse.
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    # Path-style addressing and SigV4: what every S3-compatible server accepts on any endpoint.
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=15,
    # One quick retry for a blip (a closed keep-alive connection); longer outages are ours to
    # wait out with the photo's own retries, without holding a worker thread in botocore.
    retries={"mode": "standard", "total_max_attempts": 2},
    # Enough for every worker thread at once (the processor's database pool has 32 too).
    max_pool_connections=32,
)
# Error codes whose meaning an operator needs spelled out.
HINTS = {
    "NoSuchBucket": "the bucket does not exist",
    "404": "the bucket does not exist",
    "AccessDenied": "access denied: check the credentials (AWS_ACCESS_KEY_ID, ...) and the bucket's policy",
    "403": "access denied: check the credentials (AWS_ACCESS_KEY_ID, ...) and the bucket's policy",
    "InvalidAccessKeyId": "the store does not know AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the store refused our signature: check AWS_SECRET_ACCESS_KEY",
    "SlowDown": "the store is throttling requests",
    "503": "the store is unavailable or throttling",
}


def make_client() -> Any:
    """A new S3 client, from boto3's standard chain (endpoint, credentials, region). A session is
    made for it: sessions are not thread-safe, clients are."""
    client = boto3.session.Session().client("s3", config=CLIENT_CONFIG)
    # botocore asks for "Expect: 100-continue" before every body it can read, which costs a
    # round trip per put; a thumbnail is far too small to be worth asking first.
    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


def status_of(error: ClientError) -> int | None:
    """The HTTP status the store answered with, if it answered."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def explain(error: BotoCoreError | ClientError) -> str:
    """What went wrong, in words an operator can act on."""
    if isinstance(error, NoCredentialsError):
        return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the host a role"
    if isinstance(error, BotoCoreError):
        return str(error)  # unreachable, timed out: botocore names the endpoint
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = status_of(error)
    hint = (
        HINTS.get(code)
        or HINTS.get(str(status))
        or (
            "the store failed"
            if status is not None and status >= 500
            else error.response.get("Error", {}).get("Message", "")
        )
    )
    return f"{code or status} ({hint})"
