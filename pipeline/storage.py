"""Where thumbnails are kept: one interface, two backends, chosen by the configuration.

`FolderStore` (pipeline/folder_store.py) keeps them as files under THUMBS_DIR, the default;
`BucketStore` (pipeline/bucket_store.py) as objects in an S3-compatible bucket, when
THUMBS_BUCKET is set. Both name a thumbnail by the same relative path (`thumbnail_relpath`),
which is what photo_thumbnails.url stores: a row means the same thumbnail in either, so moving
from a folder to a bucket (`python -m service copy-thumbs`) rewrites no row.

A name comes from the photo's UUID alone, never from the source URL, and fans out into 256
prefixes by the UUID's first two hex digits (no folder grows past a few thousand entries at a
million photos). It is written for one content only, but for an operator setting a completed
photo back to pending by hand: a completed photo is never processed again, and a failed one
keeps no thumbnail. Caches may still keep a thumbnail only a minute (`cache_control`), for that
case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO, Protocol
from uuid import UUID

from pipeline.formats import MEDIA_TYPES

# Where the API serves a stored thumbnail: `/thumbs/<relpath>` (the API's resources, its
# representations and the webhook events all name thumbnails by it).
THUMBS_ROUTE = "/thumbs"
# The thumbnails' Cache-Control, on the API's answers and on the objects of a bucket (which a
# CDN in front of it follows): caches keep a thumbnail a minute, then ask again with its ETag.
MAX_AGE_S = 60
# Far longer than any name of ours (`ab/<uuid>.webp` is 44), far shorter than any key limit.
MAX_RELPATH = 512


def cache_control(*, private: bool = False) -> str:
    """The Cache-Control of a thumbnail; `private` when it needs a token, so no shared cache keeps it."""
    return f"{'private' if private else 'public'}, max-age={MAX_AGE_S}, must-revalidate"


def thumbnail_relpath(photo_id: UUID, extension: str) -> str:
    """The thumbnail's path relative to the store, as stored in photo_thumbnails.url."""
    if extension not in MEDIA_TYPES:
        raise ValueError(f"unexpected thumbnail extension {extension!r}")
    name = str(photo_id)
    return f"{name[:2]}/{name}{extension}"


def checked_relpath(relpath: str) -> PurePosixPath | None:
    """`relpath` as a path inside the store, or None when it could leave it or names no thumbnail
    format: what a client asks for is checked here before any backend sees it."""
    if "\x00" in relpath or len(relpath) > MAX_RELPATH:
        return None
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or pure.suffix not in MEDIA_TYPES:
        return None
    return pure


@dataclass(frozen=True)
class StoredThumbnail:
    """A thumbnail as the store holds it, for the API to serve."""

    etag: str  # changes whenever the content may have (unquoted)
    media_type: str
    size: int
    body: BinaryIO | None  # None when the caller holds this version already (an ETag it sent)


class ThumbnailStore(Protocol):
    """What the worker and the API need of a place that keeps thumbnails."""

    description: str  # where, for log lines and errors

    def start(self) -> None:
        """Prepare for a worker's first photo (make the folder, sweep what a dead writer left);
        say clearly in the log when the store cannot be used, without raising."""

    def write(self, photo_id: UUID, data: bytes, extension: str) -> str:
        """Store a photo's thumbnail whole (a reader never sees part of one); return its relpath.
        Returns only once the store confirmed it. StorageError when it cannot."""

    def remove(self, photo_id: UUID, *, keep: str | None = None) -> None:
        """Remove every thumbnail of a photo but `keep` (a failed photo keeps none)."""

    def check(self) -> None:
        """Raise StorageError unless a thumbnail can be written now. Cheap: runs before each
        download, and answers /healthz."""

    def read(self, relpath: str, *, held: tuple[str, ...] = ()) -> StoredThumbnail | None:
        """The thumbnail at `relpath`, or None when there is none. `held`: the ETags the client
        holds; when one matches, the answer has no body."""
