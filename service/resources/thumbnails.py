"""GET /thumbs/{path}: the thumbnail files, with caching headers."""

from __future__ import annotations

import falcon

from pipeline.formats import MEDIA_TYPES
from pipeline.storage import ThumbnailStore
from service.caching import not_modified

# A thumbnail's name comes from its photo's UUID only, so processing the photo again rewrites
# the file under the same name: caches may keep it a minute, then must ask again with its ETag
# (which a rewrite changes) and get a 304 or the new file. A minute spares a page of thumbnails
# a round trip each on every view; what it may show stale is a thumbnail, for a minute.
MAX_AGE_S = 60


def cache_control(*, private: bool) -> str:
    """The thumbnails' Cache-Control: `private` when they need a token, so no shared cache keeps them."""
    return f"{'private' if private else 'public'}, max-age={MAX_AGE_S}, must-revalidate"


class ThumbnailFile:
    """Serves a file below THUMBS_DIR by the relative path stored in photo_thumbnails.url."""

    def __init__(self, store: ThumbnailStore, *, private: bool) -> None:
        self._store = store
        self._cache_control = cache_control(private=private)

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        file = self._store.resolve(path)
        media_type = MEDIA_TYPES.get(file.suffix) if file is not None else None
        if file is None or media_type is None or not file.is_file():
            raise falcon.HTTPNotFound(
                title="Thumbnail not found", description=f"No thumbnail at {path[:200]!r}."
            )
        stat = file.stat()
        # A rewrite renames a new file into place: a new inode, even should the size and the
        # modification time (whose clock may tick only every few ms) come out the same.
        etag = f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"
        if not_modified(req, resp, etag=etag, cache_control=self._cache_control):
            return
        resp.content_type = media_type
        resp.set_stream(file.open("rb"), stat.st_size)
