"""GET /thumbs/{path}: the thumbnails, from the folder or the bucket, with caching headers.

From a bucket, the API streams the object rather than redirect to a presigned URL: the bucket
stays private and need not be reachable from the browser (in Compose its endpoint is an inner
host name), API_TOKEN guards thumbnails as it guards the rest, and the URLs, ETags and 304s are
the same in both modes. A thumbnail is tens of KB; to take that traffic off the API, put a CDN
in front of the bucket and set THUMBS_PUBLIC_BASE_URL.
"""

from __future__ import annotations

import falcon

from api.caching import not_modified
from pipeline.storage import ThumbnailStore, cache_control


class ThumbnailFile:
    """Serves a thumbnail by the relative path stored in photo_thumbnails.url."""

    def __init__(self, store: ThumbnailStore, *, private: bool) -> None:
        self._store = store
        self._cache_control = cache_control(private=private)

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        held = tuple(str(tag) for tag in req.if_none_match or ())
        stored = self._store.read(path, held=held)
        if stored is None:
            raise falcon.HTTPNotFound(
                title="Thumbnail not found", description=f"No thumbnail at {path[:200]!r}."
            )
        if not_modified(req, resp, etag=stored.etag, cache_control=self._cache_control):
            if stored.body is not None:
                stored.body.close()
            return
        if stored.body is None:  # the store found a tag the client holds; falcon's match did not
            resp.status = falcon.HTTP_304
            return
        resp.content_type = stored.media_type
        resp.set_stream(stored.body, stored.size)
