"""The thumbnails' store the configuration names: beside the stores, not under them, so that the
interface (pipeline/storage.py) and its backends never import each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.storage import ThumbnailStore

if TYPE_CHECKING:
    from config import Config


def open_store(config: Config) -> ThumbnailStore:
    """The store the configuration names: the bucket when THUMBS_BUCKET is set, else the folder.
    Nothing is contacted here: a bucket's client is made at its first use, in the process that
    uses it (never before a fork)."""
    if config.thumbs_bucket:
        from pipeline.bucket_store import BucketStore  # boto3 loads only where a bucket is used

        return BucketStore(config.thumbs_bucket, prefix=config.thumbs_prefix or "")
    from pipeline.folder_store import FolderStore

    return FolderStore(config.thumbs_dir)
