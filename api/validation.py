"""Validation of request bodies (POST /photos/process, POST /photos), at the boundary.

Checks run in the order the API promises when several apply: 415 (content type), then 413
(size), then 400 (shape). Nothing is queued or created unless the whole body is valid.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import falcon

MAX_BODY_BYTES = 1024 * 1024
# POST /photos: 1000 URLs of MAX_URL_LENGTH ASCII characters are 2.06 MB as compact JSON; 3 MiB
# leaves room for indentation. (A non-ASCII character counts as its UTF-8 bytes or its escape.)
MAX_NEW_PHOTOS_BODY_BYTES = 3 * 1024 * 1024
MAX_ITEMS = 1000
# The longest photo URL accepted (what browsers and most servers take).
MAX_URL_LENGTH = 2048
# A character no URL may hold as it is: whitespace and the control characters.
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")
# The canonical hyphenated form only (any letter case): uuid.UUID would also take braces,
# "urn:uuid:" and 32 bare hex digits, which the API does not promise to understand.
UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def require_json(req: falcon.Request) -> None:
    """415 unless the body is JSON; a missing Content-Type is taken as JSON."""
    if req.content_type is None:
        return
    media_type = req.content_type.split(";", 1)[0].strip().lower()
    if media_type != falcon.MEDIA_JSON:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"The body must be JSON (Content-Type: application/json), not {media_type!r}.",
        )


def read_body(req: falcon.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, 413 when it exceeds `limit` bytes (declared or actual, chunked or not)."""
    if req.content_length is not None and req.content_length > limit:
        raise _too_large(f"The body must be at most {limit} bytes.")
    # A chunked body has no Content-Length; Falcon's bounded_stream would then read nothing, so
    # read the server's stream (gunicorn ends it at the last chunk), bounded all the same.
    stream = req.bounded_stream if req.content_length is not None else req.stream
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise _too_large(f"The body must be at most {limit} bytes.")
    return body


def parse_photo_ids(body: bytes) -> list[str]:
    """The distinct photo UUIDs of a body, lower-cased, in first-seen order."""
    photo_ids = []
    for index, item in enumerate(_json_array(body, "of photo UUIDs")):
        if not isinstance(item, str) or not UUID_PATTERN.fullmatch(item):
            raise _bad_request(f"Item {index} is not a photo UUID string: {_preview(item)}.")
        photo_ids.append(item.lower())
    return list(dict.fromkeys(photo_ids))


def check_photo_url(url: str) -> str | None:
    """What is wrong with `url` as a photo's source, or None when it is fine: an absolute http or
    https URL with a host, at most MAX_URL_LENGTH characters, that UTF-8 can encode. (Whether the host may be fetched
    from is the worker's business, checked on the address it connects to.)"""
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone UTF-16 surrogate)"
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters ({len(url)})"
    if _UNSAFE_IN_URL.search(url):
        return "holds whitespace or a control character"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an absolute http or https URL"
    if not parts.hostname:
        return "has no host"
    return None


def parse_new_photos(body: bytes) -> list[str]:
    """The photo URLs of a POST /photos body (a JSON array of {"url": ...}), in order."""
    items = _json_array(body, 'of {"url": ...} objects')
    urls = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad_request(f"Item {index} is not an object with a url: {_preview(item)}.")
        if "url" not in item:
            raise _bad_request(f"Item {index} has no url.")
        if unknown := sorted(set(item) - {"url"}):
            raise _bad_request(f"Item {index} has fields other than url: {_preview(unknown)}.")
        url = item["url"]
        if not isinstance(url, str):
            raise _bad_request(f"Item {index}: the url is not a string: {_preview(url)}.")
        if problem := check_photo_url(url):
            raise _bad_request(f"Item {index}: the url {problem}: {_preview(url)}.")
        urls.append(url)
    return urls


def _json_array(body: bytes, of_what: str) -> list[object]:
    """The body as a JSON array of 1 to MAX_ITEMS items: 400 for anything else, 413 past MAX_ITEMS."""
    if not body.strip():
        raise _bad_request(f"The body is empty; send a JSON array {of_what}.")
    try:
        items = json.loads(body)
    except (ValueError, RecursionError):
        raise _bad_request("The body is not valid JSON.") from None
    if not isinstance(items, list):
        raise _bad_request(f"The body must be a JSON array {of_what}, not a JSON {_json_type(items)}.")
    if len(items) > MAX_ITEMS:
        raise _too_large(f"At most {MAX_ITEMS} items per request; got {len(items)}.")
    if not items:
        raise _bad_request("The array is empty; send one or more items.")
    return items


def _json_type(value: object) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _preview(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad_request(description: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Invalid request body", description=description)


def _too_large(description: str) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(title="Request body too large", description=description)
