"""GET /thumbs/{uuid}/{preset} and /thumbs/{uuid}/{preset}.{ext}: a photo's rendition of one
preset, in the format `Accept` asks for (api/negotiation.py) or the one the extension names.

Falcon's router cannot hold `/thumbs/{path:path}` (the files by their relpath, ThumbnailFile)
beside fixed-depth templates under the same prefix, so `/thumbs/{path:path}` stays the one route
and `Thumbs` dispatches: a path of two segments whose first is a full UUID is a rendition,
every other a relpath. A relpath never starts with a UUID: the store fans names out by their
first two hex digits (`ab/<uuid>.jpg`, `ab/<uuid>/thumb.<digest>.jpg`).

The negotiated answer says `Vary: Accept`, so that a cache keeps one copy per Accept. Each
variant has its own ETag: the row's digest (what the bytes are, known without asking the
store, so a 304 reads nothing), or the store's ETag for the rows made before digests were.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from uuid import UUID

import falcon
from peewee import Database

from api.caching import not_modified
from api.negotiation import choose_format
from api.resources.thumbnails import ThumbnailFile
from pipeline.formats import FORMATS
from pipeline.presets import DOUBLE, PRESET_NAME
from pipeline.storage import StoredThumbnail, ThumbnailStore, cache_control

log = logging.getLogger(__name__)

# One statement answers the three cases: no row (no such photo), one row of NULLs (the photo
# has no rendition of that preset), or one row per format.
RENDITIONS_OF = (
    "SELECT t.format, t.url, t.digest FROM photos p"
    " LEFT JOIN photo_thumbnails t ON t.photo_uuid = p.uuid AND t.preset = %s"
    " WHERE p.uuid = %s"
)
FULL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# The extension of a URL that names its format (`thumb.webp`) -> the format.
BY_URL_EXTENSION = {fmt.extension.removeprefix("."): fmt.name for fmt in FORMATS.values()}
# The ETag of a rendition with a digest: 128 bits of its sha256 tell any two versions apart.
DIGEST_ETAG_CHARS = 32


class Thumbs:
    """GET and HEAD /thumbs/{path}: a rendition by photo and preset, or a file by its relpath."""

    def __init__(self, files: ThumbnailFile, renditions: RenditionFile) -> None:
        self._files = files
        self._renditions = renditions

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        photo, slash, name = path.partition("/")
        if slash and name and "/" not in name and FULL_UUID.fullmatch(photo):
            self._renditions.serve(req, resp, UUID(photo), name)
        else:
            self._files.on_get(req, resp, path)

    def on_head(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        """As GET, without the body (Falcon answers 405 to HEAD unless a resource has on_head): the
        file or object is opened for its size and the answer's headers, then closed unread."""
        self.on_get(req, resp, path)
        stream, resp.stream = resp.stream, None
        if stream is not None and hasattr(stream, "close"):
            stream.close()


class RenditionFile:
    """Serves a photo's rendition of one preset: negotiated, or in the format its URL names."""

    def __init__(self, db: Database, store: ThumbnailStore, *, private: bool) -> None:
        self._db = db
        self._store = store
        self._cache_control = cache_control(private=private)

    def serve(self, req: falcon.Request, resp: falcon.Response, photo_id: UUID, name: str) -> None:
        """Answer for `name`, `preset` or `preset.ext`, of the photo `photo_id`."""
        preset, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
        if not PRESET_NAME.fullmatch(preset.removesuffix(DOUBLE)):
            raise _not_found("Preset not found", f"No preset {preset[:100]!r}.")
        rows = self._db.execute_sql(RENDITIONS_OF, (preset, str(photo_id))).fetchall()
        if not rows:
            raise _not_found("Photo not found", f"No photo {photo_id}.")
        by_format = {fmt: (url, digest) for fmt, url, digest in rows if fmt is not None}
        if not by_format:
            raise _not_found("Rendition not found", f"Photo {photo_id} has no rendition {preset!r}.")
        if dot:
            chosen = BY_URL_EXTENSION.get(extension)
            if chosen is None:
                raise _not_found(
                    "Format not found",
                    f"No format {extension[:20]!r}; the extensions are {', '.join(BY_URL_EXTENSION)}.",
                )
            if chosen not in by_format:
                raise _not_found(
                    "Rendition not found",
                    f"Photo {photo_id} has {preset!r} in {_listed(by_format)}, not in {chosen}.",
                )
        else:
            chosen = choose_format(req.get_header("Accept"), by_format)
            if chosen is None:
                raise falcon.HTTPNotAcceptable(
                    title="Not acceptable",
                    description=(
                        f"{preset!r} of photo {photo_id} is available as {_listed(by_format)}"
                        f" ({', '.join(FORMATS[fmt].media_type for fmt in sorted(by_format))}),"
                        " none of which the Accept header takes. Name one of them, or ask for"
                        f" /thumbs/{photo_id}/{preset}.<extension>."
                    ),
                )  # with Vary: Accept, as Falcon's error serialiser adds to every error
            resp.vary = ("Accept",)
        url, digest = by_format[chosen]
        self._send(req, resp, url, digest, FORMATS[chosen].media_type)

    def _send(
        self, req: falcon.Request, resp: falcon.Response, url: str, digest: str | None, media_type: str
    ) -> None:
        """The rendition at `url`, or a 304 when the client holds it."""
        held = tuple(str(tag) for tag in req.if_none_match or ())
        if digest:
            if not_modified(req, resp, etag=digest[:DIGEST_ETAG_CHARS], cache_control=self._cache_control):
                return
            stored = self._read(url, held=())
        else:  # a row from before digests: the store's ETag, as /thumbs/{relpath} gives it
            stored = self._read(url, held=held)
            if not_modified(req, resp, etag=stored.etag, cache_control=self._cache_control):
                if stored.body is not None:
                    stored.body.close()
                return
            if stored.body is None:  # the store found a tag the client holds; falcon's match did not
                resp.status = falcon.HTTP_304
                return
        assert stored.body is not None  # nothing was held
        resp.content_type = media_type
        resp.set_stream(stored.body, stored.size)

    def _read(self, url: str, *, held: tuple[str, ...]) -> StoredThumbnail:
        """The object a row names; a 404 when the store has none (a row without its object is
        the store's loss or an operator's, never the client's: worth a line in the log)."""
        stored = self._store.read(url, held=held)
        if stored is None:
            log.warning(
                "Rendition %r is in photo_thumbnails but not in the %s.", url, self._store.description
            )
            raise _not_found("Rendition not found", "The rendition's file is missing from the store.")
        return stored


def _listed(formats: Collection[str]) -> str:
    """The formats' names, for an error's text."""
    return ", ".join(sorted(formats))


def _not_found(title: str, description: str) -> falcon.HTTPNotFound:
    """A 404 in the API's error shape."""
    return falcon.HTTPNotFound(title=title, description=description)
