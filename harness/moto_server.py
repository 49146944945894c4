"""A second S3-compatible server for the stores' contract tests: moto's, in this process.

Unlike rclone (harness/s3server.py) it keeps objects in memory and takes any credentials; it is
a different implementation of the same API, so a test that passes on both depends on neither's
quirks.
"""

from __future__ import annotations

from moto.server import ThreadedMotoServer

from harness.s3server import S3Endpoint
from harness.service_processes import free_port


class MotoServer(S3Endpoint):
    """moto's S3 on 127.0.0.1, in a thread of this process; the same surface as S3Server."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoServer:
        """Start serving; return self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (the objects are gone with it)."""
        self._server.stop()

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket` by key."""
        client = self.admin()
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", ())
        ]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
