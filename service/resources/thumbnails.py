"""GET /thumbs/{path}: the thumbnail files, with caching headers."""

from __future__ import annotations

import falcon

from pipeline.formats import MEDIA_TYPES
from pipeline.storage import ThumbnailStore
from service.caching import not_modified

# A thumbnail's name comes from its photo's UUID and its content never changes once written.
CACHE_CONTROL = "public, max-age=86400"


class ThumbnailFile:
    """Serves a file below THUMBS_DIR by the relative path stored in photo_thumbnails.url."""

    def __init__(self, store: ThumbnailStore) -> None:
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        file = self._store.resolve(path)
        media_type = MEDIA_TYPES.get(file.suffix) if file is not None else None
        if file is None or media_type is None or not file.is_file():
            raise falcon.HTTPNotFound(
                title="Thumbnail not found", description=f"No thumbnail at {path[:200]!r}."
            )
        stat = file.stat()
        if not_modified(
            req, resp, etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}", cache_control=CACHE_CONTROL
        ):
            return
        resp.content_type = media_type
        resp.set_stream(file.open("rb"), stat.st_size)
