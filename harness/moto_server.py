"""A second S3-compatible server for the stores' contract tests: moto's, in this process.

Unlike rclone (harness/s3server.py) it keeps objects in memory and takes any credentials; it is
a different implementation of the same API, so a test that passes on both depends on neither's
quirks.
"""

from __future__ import annotations

import secrets
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from harness.s3server import ACCESS_KEY, SECRET_KEY
from harness.service_processes import free_port
from pipeline.s3_client import CLIENT_CONFIG


class MotoServer:
    """moto's S3 on 127.0.0.1, in a thread of this process; the same surface as S3Server."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def env(self) -> dict[str, str]:
        """boto3's standard variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def start(self) -> MotoServer:
        """Start serving; return self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (the objects are gone with it)."""
        self._server.stop()

    def new_bucket(self, stem: str = "thumbs") -> str:
        """Create an empty bucket of a name of its own; return its name."""
        name = f"{stem}-{secrets.token_hex(4)}"
        self.create_bucket(name)
        return name

    def create_bucket(self, name: str) -> None:
        """Create bucket `name` through the S3 API."""
        self._client().create_bucket(Bucket=name)

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket` by key."""
        client = self._client()
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", ())
        ]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def _client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=CLIENT_CONFIG,
        )
