"""Where thumbnails are kept: one interface, two backends, chosen by the configuration.

`FolderStore` (pipeline/folder_store.py) keeps them as files under THUMBS_DIR, the default;
`BucketStore` (pipeline/bucket_store.py) as objects in an S3-compatible bucket, when
THUMBS_BUCKET is set. Both name a thumbnail by the same relative path (`thumbnail_relpath`),
which is what photo_thumbnails.url stores: a row means the same thumbnail in either, so moving
from a folder to a bucket (`python -m service copy-thumbs`) rewrites no row.

A name comes from the photo's UUID, never from the source URL, and fans out into 256 prefixes
by the UUID's first two hex digits (no folder grows past a few thousand entries at a million
photos). A rendition is `<2 hex>/<uuid>/<preset>.<digest>.<ext>` (`rendition_relpath`), the
digest being the start of its bytes' sha256: a name holds one content only, so a photo rendered
again with other settings writes new names beside the old ones, which its rows name until the
new rows replace them. Every object of a photo is under its own `<2 hex>/<uuid>/` but the one
thumbnail of a photo processed before renditions, `<2 hex>/<uuid><ext>` (`legacy_relpaths`), so
`remove` finds them all. Caches may keep a thumbnail only a minute (`cache_control`): a legacy
name is rewritten in place when an operator sets a photo back to pending by hand.
"""

from __future__ import annotations

import re
from collections.abc import Collection
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
# Hex digits of the sha256 in a rendition's name: 48 bits, so two contents of one photo's
# preset never share a name in practice (a collision would need ~16 million renderings of it).
DIGEST_IN_NAME = 12
# The name of a rendition inside its photo's folder (pipeline/presets.py's preset names).
RENDITION_NAME = re.compile(rf"[a-z][a-z0-9_-]{{0,31}}(@2x)?\.[0-9a-f]{{{DIGEST_IN_NAME}}}\.[a-z]{{3,4}}")


def cache_control(*, private: bool = False) -> str:
    """The Cache-Control of a thumbnail; `private` when it needs a token, so no shared cache keeps it."""
    return f"{'private' if private else 'public'}, max-age={MAX_AGE_S}, must-revalidate"


def thumbnail_relpath(photo_id: UUID, extension: str) -> str:
    """The name of a photo's one thumbnail before renditions (rows made then still name it)."""
    if extension not in MEDIA_TYPES:
        raise ValueError(f"unexpected thumbnail extension {extension!r}")
    name = str(photo_id)
    return f"{name[:2]}/{name}{extension}"


def legacy_relpaths(photo_id: UUID) -> list[str]:
    """Every name a photo's thumbnail may have had before renditions (one per format then)."""
    return [thumbnail_relpath(photo_id, extension) for extension in (".jpg", ".webp")]


def photo_folder(photo_id: UUID) -> str:
    """The folder (or key prefix, without its slash) that holds a photo's renditions."""
    name = str(photo_id)
    return f"{name[:2]}/{name}"


def rendition_relpath(photo_id: UUID, preset: str, digest: str, extension: str) -> str:
    """A rendition's path relative to the store, as stored in photo_thumbnails.url."""
    name = f"{preset}.{digest[:DIGEST_IN_NAME]}{extension}"
    if extension not in MEDIA_TYPES or not RENDITION_NAME.fullmatch(name):
        raise ValueError(f"not a rendition's name: {name!r}")
    return f"{photo_folder(photo_id)}/{name}"


# Where KEEP_ORIGINALS keeps each source, by the sha256 of its bytes: one object for every
# photo with those bytes. No thumbnail format's suffix, so the thumbnail routes never serve one.
ORIGINALS = "originals"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def original_relpath(sha256: str) -> str:
    """The relative path of the source whose bytes have this sha256 (hex)."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return f"{ORIGINALS}/{sha256}"


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

    def write(self, relpath: str, data: bytes) -> str:
        """Store `data` whole at `relpath` (a reader never sees part of it); return `relpath`.
        Returns only once the store confirmed it. StorageError when it cannot."""

    def remove(self, photo_id: UUID, *, keep: Collection[str] = ()) -> None:
        """Remove every object of a photo but those in `keep` (a failed photo keeps none)."""

    def check(self) -> None:
        """Raise StorageError unless a thumbnail can be written now. Cheap: runs before each
        download, and answers /healthz."""

    def read(self, relpath: str, *, held: tuple[str, ...] = ()) -> StoredThumbnail | None:
        """The thumbnail at `relpath`, or None when there is none. `held`: the ETags the client
        holds; when one matches, the answer has no body."""

    def keep_original(self, sha256: str, data: bytes) -> None:
        """Store a source under its content hash (`original_relpath`), whole; StorageError if not."""

    def original(self, sha256: str) -> bytes | None:
        """The source kept under this hash, or None when there is none. StorageError when the
        store cannot answer."""

    def drop_original(self, sha256: str) -> None:
        """Remove the source kept under this hash (a missing one is no error)."""
