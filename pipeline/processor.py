"""The steps of one photo: claim it, download it, make its renditions, store them, complete it.

Every step that can fail raises an error of `pipeline.errors` (or a database error), which goes
on once the attempt is closed: what it means is `errors.classify`'s business, whether to try
again the retry policy's, and the worker calls `fail` once a message has failed for good. Only
removing thumbnails after the outcome is decided may fail quietly (`_remove`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from uuid import UUID

from config import Config
from connection_pool import PooledDatabase
from models import init_db
from pipeline import claims, completion, duplicates, originals, rerender_claims
from pipeline.decode_ledger import DecodeLedger, return_freed_memory
from pipeline.errors import PermanentError, SourceUnavailable, StorageError, classify
from pipeline.fetch import Fetcher, FetchPolicy
from pipeline.host_breaker import HostBreaker, HostPaused, host_of
from pipeline.locks import photo_lock
from pipeline.open_store import open_store
from pipeline.outcome import Outcome
from pipeline.render_settings import RenderSettings
from pipeline.renditions import Rendered, make_renditions
from pipeline.storage import ThumbnailStore, rendition_relpath

log = logging.getLogger(__name__)

# Database connections of one worker process to start with: the worker grows the pool at boot to
# one per photo thread plus the threads beside them (actors/side_threads.py).
MAX_CONNECTIONS = 32


class InvalidMessage(PermanentError):
    """Raised when a message does not carry a photo UUID."""

    code = "invalid_message"


@dataclass(frozen=True)
class PhotoProcessor:
    """The collaborators of one photo's processing, built once per worker process."""

    db: PooledDatabase
    fetcher: Fetcher
    settings: RenderSettings  # what `render` makes
    render: Callable[[bytes], Rendered]
    store: ThumbnailStore
    max_attempts: int  # attempts that ended with an error or a thumbnail, per request
    max_crashes: int  # attempts that ended with no outcome (the worker died), per request
    keep_originals: bool = False  # KEEP_ORIGINALS: each source kept in the store (pipeline/originals.py)
    hosts: HostBreaker = field(default_factory=lambda: HostBreaker(4, 5, 30.0, 60.0))  # polite downloads

    @classmethod
    def from_config(cls, config: Config) -> PhotoProcessor:
        """The processor the worker runs with: the database, downloads, thumbnails and their store."""
        db = init_db(config, max_connections=MAX_CONNECTIONS)
        return_freed_memory()  # with the ledger, what bounds memory across threads (decode_ledger.py)
        store = open_store(config)
        store.start()
        settings = RenderSettings.from_config(config)
        return cls(
            db=db,
            fetcher=Fetcher(FetchPolicy.from_config(config)),
            settings=settings,
            render=functools.partial(
                make_renditions,
                presets=settings.presets,
                formats=settings.formats,
                qualities=settings.qualities,
                max_pixels=config.max_image_pixels,
                max_decode_mb=config.max_decode_mb,
                # One budget for the process's threads: MAX_DECODE_MB holds with any WORKER_THREADS.
                ledger=DecodeLedger(),
            ),
            store=store,
            max_attempts=config.retry_max + 1,
            max_crashes=config.max_crashes,
            keep_originals=config.keep_originals,
            hosts=HostBreaker(
                max_per_host=config.max_per_host,
                failures_to_pause=config.host_breaker_failures,
                pause_s=config.host_pause_s,
                probe_s=config.download_deadline_s,
            ),
        )

    def close(self) -> None:
        """Close the download and database connections; call when no photo is being processed."""
        self.fetcher.close()
        self.db.close_all()

    def process(self, photo_id: str, *, after_outage: bool = False) -> Outcome:
        """Process the photo `photo_id`; raise what went wrong, for the retry policy to judge.

        `after_outage`: the message's last attempt ended in an outage of ours, so an attempt
        it may have left open (the database went away) is no crash.
        """
        uuid = parse_photo_id(photo_id)
        outcome = Outcome(photo_id=str(uuid), result="completed")
        started = time.monotonic()
        budget = {"max_attempts": self.max_attempts, "max_crashes": self.max_crashes}
        with (
            self.db.connection_context(),
            claims.claimed(self.db, uuid, after_outage=after_outage, **budget) as claim,
        ):
            if not claim.locked:
                # Another live worker holds this photo: this message is a duplicate. That
                # worker completes the photo, or its own message is retried or redelivered.
                outcome.result = "skipped_busy"
            elif claim.failed_code is not None:
                self._remove(uuid)  # a crash may have left a file without its row
                outcome.result = "failed"
                outcome.failure_code, outcome.failure_reason = claim.failed_code, claim.failed_reason
            elif claim.gone:
                # Deleted: a worker whose session died (and the lock with it) may have written
                # its file after the delete removed nothing; this message's claim clears it.
                self._remove(uuid)
                outcome.result = "skipped_gone"
            elif claim.url is None:
                outcome.result = "skipped_done"
            else:
                outcome.timings["claim"] = time.monotonic() - started
                try:
                    self._make(uuid, claim.url, outcome, first=claim.first)
                except BaseException as error:  # a time limit too: it is no crash
                    self._end_attempt(uuid, error, fetched=outcome.fetched)
                    raise
                outcome.timings["total"] = time.monotonic() - started
        return outcome

    def _make(self, uuid: UUID, url: str, outcome: Outcome, *, first: bool) -> None:
        """Download, render, store and complete the claimed photo, timing each step. `first`:
        no attempt began before this one, so no other rendition of the photo is in the store."""
        self.store.check()  # a full or read-only store: wait, without downloading for nothing
        source = self._download(url, outcome)
        sha256 = duplicates.content_sha256(source)
        rendered = self._rendered(uuid, source, sha256, outcome)
        relpaths = self._write(uuid, rendered, outcome)
        mark = time.monotonic()
        done = completion.complete(self.db, uuid, rendered, relpaths, self.settings.fingerprint, sha256)
        outcome.timings["database"] = time.monotonic() - mark
        if done and self.keep_originals:
            originals.keep(self.db, self.store, uuid, sha256, source)
        # No file without its row: a photo deleted meanwhile keeps none, and the renditions of
        # an earlier attempt (other settings, or a crash between two writes) that are not this
        # one's go. A first attempt has none: skipping the removal spares a bucket a listing.
        if not done:
            self._remove(uuid)
            outcome.result = "skipped_gone"
        elif not first:
            self._remove(uuid, keep=relpaths)

    def _rendered(self, uuid: UUID, source: bytes, sha256: str, outcome: Outcome) -> Rendered:
        """The photo's renditions: copies of a duplicate's (the same bytes, rendered with these
        settings: pipeline/duplicates.py), or rendered from `source`."""
        mark = time.monotonic()
        rendered = duplicates.borrowed(self.db, self.store, uuid, sha256, self.settings.fingerprint)
        if rendered is not None:
            outcome.deduplicated = True
            outcome.timings["copy"] = time.monotonic() - mark
            return rendered
        rendered = self.render(source)
        outcome.timings["decode"] = rendered.decode_s
        outcome.timings["encode"] = rendered.encode_s
        return rendered

    def _write(self, uuid: UUID, rendered: Rendered, outcome: Outcome) -> list[str]:
        """Store each rendition under its name in the photo's folder; their relpaths, in order."""
        mark = time.monotonic()
        relpaths = [
            self.store.write(
                rendition_relpath(uuid, rendition.preset, rendition.digest, rendition.format.extension),
                rendition.data,
            )
            for rendition in rendered.renditions
        ]
        outcome.timings["store"] = time.monotonic() - mark
        return relpaths

    def rerender(self, photo_id: str, *, after_outage: bool = False) -> Outcome:
        """Render a completed photo again with the current settings, unless its renditions are
        made with them already; raise what went wrong, as `process` does. The photo stays
        completed, serving its old renditions, until the new ones are all stored; then its rows
        change in one statement, and the objects they no longer name are removed."""
        uuid = parse_photo_id(photo_id)
        outcome = Outcome(photo_id=str(uuid), result="rerendered")
        started = time.monotonic()
        with (
            self.db.connection_context(),
            rerender_claims.claimed(
                self.db,
                uuid,
                fingerprint=self.settings.fingerprint,
                max_crashes=self.max_crashes,
                after_outage=after_outage,
            ) as claim,
        ):
            if claim.verdict == "busy":
                outcome.result = "skipped_busy"
            elif claim.verdict == "gone":
                self._remove(uuid)  # as for a new photo's message: nothing of it may stay
                outcome.result = "skipped_gone"
            elif claim.verdict == "not_completed":
                outcome.result = "skipped_not_completed"  # the new-photo lane's, not this lane's
            elif claim.verdict in ("current", "crashed"):
                # A crash after the swap left the old objects; one before it, the new ones.
                self._remove(uuid, keep=claim.relpaths)
                outcome.result = "skipped_done" if claim.verdict == "current" else "rerender_failed"
                if claim.verdict == "crashed":
                    outcome.failure_code = "crashed"
                    outcome.failure_reason = rerender_claims.CRASHED % self.max_crashes
            else:
                assert claim.url is not None  # claimed
                outcome.timings["claim"] = time.monotonic() - started
                try:
                    self._render_again(uuid, claim.url, outcome)
                except BaseException as error:
                    self._end_rerender_attempt(uuid, error)
                    raise
                outcome.timings["total"] = time.monotonic() - started
        return outcome

    def _render_again(self, uuid: UUID, url: str, outcome: Outcome) -> None:
        """Download, render and store the claimed photo's renditions beside its old ones, then
        swap the rows and remove the objects they no longer name."""
        self.store.check()
        source, kept = self._source_again(uuid, url, outcome)
        sha256 = duplicates.content_sha256(source)
        rendered = self._rendered(uuid, source, sha256, outcome)
        relpaths = self._write(uuid, rendered, outcome)
        mark = time.monotonic()
        replaced = completion.replace(self.db, uuid, rendered, relpaths, self.settings.fingerprint, sha256)
        outcome.timings["database"] = time.monotonic() - mark
        if replaced:
            self._remove(uuid, keep=relpaths)
            if self.keep_originals and not kept:
                originals.keep(self.db, self.store, uuid, sha256, source)
            return
        # Set back to pending by hand meanwhile (a delete waits for the lock): its rows, not ours.
        self._remove(uuid, keep=claims.rendition_relpaths(self.db, uuid))
        outcome.result = "skipped_not_completed"

    def _source_again(self, uuid: UUID, url: str, outcome: Outcome) -> tuple[bytes, bool]:
        """The source of a photo being re-rendered, and whether it came from its kept original:
        that original when there is one (pipeline/originals.py), else downloaded again."""
        sha256 = originals.source_of(self.db, uuid)
        if sha256 is not None:
            mark = time.monotonic()
            data = self.store.original(sha256)
            if data is not None and duplicates.content_sha256(data) == sha256:
                outcome.from_original = True
                outcome.bytes_downloaded = len(data)
                outcome.timings["original"] = time.monotonic() - mark
                return data, True
            log.warning("The original of %s is missing from the store; downloading it again.", uuid)
        return self._download(url, outcome), False

    def _end_rerender_attempt(self, uuid: UUID, error: BaseException) -> None:
        """Record that the re-render attempt ended with `error` (no crash); best effort."""
        try:
            rerender_claims.end_attempt(self.db, uuid, retried=classify(error).transient)
        except Exception as unrecorded:
            log.warning("Could not record the end of a re-render attempt on %s: %r", uuid, unrecorded)

    def give_up_rerender(self, photo_id: str, reason: str) -> bool:
        """Record that the photo's re-render failed for good (it keeps its renditions)."""
        try:
            uuid = parse_photo_id(photo_id)
        except InvalidMessage:
            return False
        with self.db.connection_context():
            return rerender_claims.give_up(
                self.db, uuid, fingerprint=self.settings.fingerprint, reason=reason
            )

    def _download(self, url: str, outcome: Outcome) -> bytes:
        """The photo's source, downloaded politely (pipeline/host_breaker.py: HostPaused or
        HostBusy before any request when its host may not be asked now); what the download
        did goes into `outcome`."""
        host = host_of(url)
        with self.hosts.slot(self.db, host) as failing:
            outcome.fetched = True
            try:
                download = self.fetcher.fetch(url)
            except SourceUnavailable as error:
                if self.hosts.failed(self.db, host, str(error)):
                    # This failure paused the host: the photo waits with the others, unspent.
                    raise HostPaused(f"{host} paused: {error}", retry_after_ms=self.hosts.pause_ms) from error
                raise
            if failing:
                self.hosts.succeeded(self.db, host)
        outcome.bytes_downloaded = len(download.data)
        outcome.content_type = download.content_type
        if download.final_url != url:
            outcome.redirected_to = download.final_url
        outcome.timings["download"] = download.elapsed_s
        return download.data

    def _end_attempt(self, uuid: UUID, error: BaseException, *, fetched: bool) -> None:
        """Record that the attempt ended with `error`, so it does not count as a crash. It counts
        against the budget only if it tried the source and ended by no outage of ours (our
        storage down, our own stop cutting the download)."""
        failure = classify(error)
        counted = fetched and not failure.outage
        try:
            claims.end_attempt(self.db, uuid, failure.reason, retried=failure.transient, counted=counted)
        except Exception as unrecorded:
            # The database is down: the message says so (an outage retry), and its next claim
            # spares this attempt rather than count a crash. The original error is the one
            # that matters for the retry policy.
            log.warning("Could not record the end of an attempt on %s: %r", uuid, unrecorded)

    def fail(self, photo_id: str, reason: str) -> bool:
        """Mark the photo 'failed' and remove any thumbnail file it has; return whether it changed.

        Done under the photo's lock: if another worker holds the photo now, its outcome wins.
        """
        try:
            uuid = parse_photo_id(photo_id)
        except InvalidMessage:
            return False
        with self.db.connection_context(), photo_lock(self.db, uuid) as locked:
            if not locked:
                return False
            changed = claims.mark_failed(self.db, uuid, reason)
            if changed or not claims.exists(self.db, uuid):
                self._remove(uuid)  # failed, or deleted: either way no file of it may stay
            return changed

    def _remove(self, uuid: UUID, *, keep: Collection[str] = ()) -> None:
        """Remove the photo's renditions but `keep`, its outcome decided: a store failing now
        is logged, since raising would only retry a done photo's message and hide its outcome."""
        try:
            self.store.remove(uuid, keep=keep)
        except (StorageError, OSError) as error:
            log.warning("Renditions of %s other than %s left in the store: %s", uuid, sorted(keep), error)


def parse_photo_id(value: object) -> UUID:
    """The photo UUID a message carries; InvalidMessage when it carries anything else."""
    if not isinstance(value, str):
        raise InvalidMessage(f"expected a photo UUID string, got {type(value).__name__}")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidMessage(f"expected a photo UUID, got {value[:64]!r}") from None
