"""Thumbnails as objects in an S3-compatible bucket, through boto3 (set THUMBS_BUCKET).

AWS S3, MinIO, Ceph RGW, Cloudflare R2, Google Cloud Storage's interoperability endpoint: only
the plain calls every one of them implements are used (HeadBucket, PutObject, GetObject,
DeleteObject, ListObjectsV2), and nothing is read back from an object but its bytes, size and
ETag. The endpoint, the credentials and the region come from boto3's own chain
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, instance roles).

A key is THUMBS_PREFIX + the relative path the folder store uses. Every error of the store
(unreachable, slow, throttling, refusing our credentials, no such bucket) is a StorageError:
an outage of ours, during which photos wait, and which the error's text explains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Collection, Iterator
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import StorageError, ThumbnailRefused
from pipeline.formats import MEDIA_TYPES
from pipeline.s3_client import explain, make_client, status_of
from pipeline.storage import (
    StoredThumbnail,
    cache_control,
    checked_relpath,
    legacy_relpaths,
    original_relpath,
    photo_folder,
)

log = logging.getLogger(__name__)

# A store found working is asked again at most this often before a download (a HEAD of the
# bucket per photo would double the requests); after a failed write it is asked every time.
CHECK_EVERY_S = 5.0
# Statuses that refuse one object itself (malformed, too large, a key too long): not an outage.
OBJECT_REFUSED = (400, 411, 413, 414)


class BucketStore:
    """Writes, serves and removes thumbnails as objects under a prefix of one bucket."""

    def __init__(self, bucket: str, *, prefix: str = "") -> None:
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.description = f"bucket s3://{bucket}/{self.prefix}"
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_pid = 0
        self._checked_at = -CHECK_EVERY_S
        self._write_failed = False

    @property
    def client(self) -> Any:
        """This process's S3 client: made at first use, again in a child after a fork (a client
        is thread-safe, but no client or session may cross a fork)."""
        if self._client_pid != os.getpid():
            with self._lock:
                if self._client_pid != os.getpid():
                    try:
                        self._client = make_client()
                    except (BotoCoreError, ValueError) as error:  # ValueError: a bad AWS_ENDPOINT_URL
                        raise StorageError(
                            f"could not make a client for {self.description}: {error}"
                        ) from error
                    self._client_pid = os.getpid()
        return self._client

    def key(self, relpath: str) -> str:
        """The object key of a thumbnail's relative path."""
        return self.prefix + relpath

    def start(self) -> None:
        """Check the bucket at once, so that wrong credentials or a missing bucket are in the log
        at start rather than one photo at a time."""
        try:
            self.check()
        except StorageError as error:
            log.error("Thumbnail %s unusable: %s. Photos wait until it is.", self.description, error)
        else:
            log.info("Thumbnails go to %s.", self.description)

    def write(self, relpath: str, data: bytes) -> str:
        """Put the object; return its relpath once the store confirmed it."""
        try:
            self.put(relpath, data)
        except StorageError:
            self._write_failed = True
            raise
        self._write_failed = False
        return relpath

    def put(self, relpath: str, data: bytes) -> None:
        """Put `data` at `relpath` with the thumbnails' media type and Cache-Control (S3 would
        otherwise say binary/octet-stream)."""
        media_type = MEDIA_TYPES[relpath[relpath.rindex(".") :]]
        with self._translated("write", relpath, about_the_object=True):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(relpath),
                Body=data,
                ContentType=media_type,
                CacheControl=cache_control(),
            )

    def remove(self, photo_id: UUID, *, keep: Collection[str] = ()) -> None:
        """Delete the objects of the photo but those in `keep` (deleting a missing key is no
        error): those under its prefix, found by one listing, and its thumbnail from before
        renditions."""
        folder = photo_folder(photo_id)
        with self._translated("list", folder):
            listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(folder + "/"))
        # A photo has a few renditions: far fewer than a page of 1000 keys.
        found = [item["Key"][len(self.prefix) :] for item in listed.get("Contents", ())]
        for relpath in (*found, *legacy_relpaths(photo_id)):
            if relpath not in keep:
                with self._translated("remove", relpath):
                    self.client.delete_object(Bucket=self.bucket, Key=self.key(relpath))

    def check(self) -> None:
        """Raise StorageError unless the bucket answers (and, after a failed write, takes a
        small object again)."""
        if not self._write_failed and time.monotonic() - self._checked_at < CHECK_EVERY_S:
            return
        with self._translated("reach", None):
            self.client.head_bucket(Bucket=self.bucket)
        if self._write_failed:
            probe = f".probe-{secrets.token_hex(6)}"
            with self._translated("write", probe):
                self.client.put_object(Bucket=self.bucket, Key=self.key(probe), Body=b"probe")
            with self._translated("remove", probe):
                self.client.delete_object(Bucket=self.bucket, Key=self.key(probe))
            self._write_failed = False
        self._checked_at = time.monotonic()

    def read(self, relpath: str, *, held: tuple[str, ...] = ()) -> StoredThumbnail | None:
        """The object at `relpath`, streamed (see ThumbnailStore.read)."""
        pure = checked_relpath(relpath)
        if pure is None:
            return None
        media_type = MEDIA_TYPES[pure.suffix]
        # Only one plain tag is asked of the store; several, or `*`, are compared here: nothing
        # a client sends can make the store refuse the request.
        condition = {"IfNoneMatch": f'"{held[0]}"'} if len(held) == 1 and held[0] != "*" else {}
        try:
            with self._translated("read", relpath, passing=(304, 404)):
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key(str(pure)), **condition)
        except ClientError as error:
            if status_of(error) == 304:  # the one tag asked matched
                return StoredThumbnail(etag=held[0], media_type=media_type, size=0, body=None)
            if error.response.get("Error", {}).get("Code") == "NoSuchBucket":  # an outage, no miss
                raise StorageError(f"could not read {self._where(relpath)}: {explain(error)}") from error
            return None
        etag = answer["ETag"].removeprefix("W/").strip('"')
        body = answer["Body"]
        if etag in held:  # a store that ignores If-None-Match: the same answer, its body unread
            body.close()
            body = None
        return StoredThumbnail(etag=etag, media_type=media_type, size=answer["ContentLength"], body=body)

    def keep_original(self, sha256: str, data: bytes) -> None:
        """Put the source under its hash; private (no Cache-Control for a CDN to keep)."""
        relpath = original_relpath(sha256)
        with self._translated("write", relpath, about_the_object=True):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(relpath), Body=data, ContentType="application/octet-stream"
            )

    def original(self, sha256: str) -> bytes | None:
        """The source kept under this hash, or None."""
        relpath = original_relpath(sha256)
        try:
            with self._translated("read", relpath, passing=(404,)):
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath))
                return bytes(answer["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise StorageError(f"could not read {self._where(relpath)}: {explain(error)}") from error
            return None

    def drop_original(self, sha256: str) -> None:
        """Delete the source kept under this hash."""
        relpath = original_relpath(sha256)
        with self._translated("remove", relpath):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(relpath))

    def relpaths(self) -> Iterator[str]:
        """The relpath of every object under the prefix, for copy-thumbs to skip what is there."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with self._translated("list", None):
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.prefix) :]

    @contextlib.contextmanager
    def _translated(
        self,
        action: str,
        relpath: str | None,
        *,
        passing: tuple[int, ...] = (),
        about_the_object: bool = False,
    ) -> Iterator[None]:
        """Turn botocore's errors into StorageError, naming the store, the object and the cause;
        a ClientError of a status in `passing` goes through as it is. With `about_the_object`, a
        refusal of the object itself (400, 411, 413, 414) is the thumbnail's, not an outage."""
        try:
            yield
        except ClientError as error:
            if status_of(error) in passing:
                raise
            message = f"could not {action} {self._where(relpath)}: {explain(error)}"
            if about_the_object and status_of(error) in OBJECT_REFUSED:
                raise ThumbnailRefused(message) from error
            raise StorageError(message) from error
        except BotoCoreError as error:
            raise StorageError(f"could not {action} {self._where(relpath)}: {explain(error)}") from error

    def _where(self, relpath: str | None) -> str:
        """The store and the object, for an error's text."""
        return self.description + (relpath or "")
