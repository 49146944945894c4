"""Validation caching for files the API serves: an ETag, Cache-Control, and 304 when unchanged."""

from __future__ import annotations

import falcon


def not_modified(req: falcon.Request, resp: falcon.Response, *, etag: str, cache_control: str) -> bool:
    """Set the caching headers; answer 304 and return True when the client holds this version."""
    resp.etag = etag
    resp.cache_control = [cache_control]
    if req.if_none_match and any(str(tag) in (etag, "*") for tag in req.if_none_match):
        resp.status = falcon.HTTP_304
        return True
    return False
