"""Configuration: every setting comes from the environment, read here and nowhere else.

`Config` is the table of settings: each field is one environment variable (its name in capitals),
with its type, its default, its bounds or choices and its meaning, each written once. `load_config()`
reads that table and builds a frozen `Config` on demand (never at import), so tests and tools can
build one from a dict of their own. A bad value raises `ConfigError` naming the variable.
The API, gunicorn_conf.py and the worker all read it; only the Procfile's shell reads variables of
its own (WORKER_PROCESSES, WORKER_THREADS; and WORKER_SHUTDOWN_MS, which the worker reads too),
documented with these in .env.example.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, get_type_hints
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipeline.presets import Preset, PresetError, parse_formats, parse_renditions

T = TypeVar("T")

# Connection options added to AMQP_URI unless it sets them itself. Without them a RabbitMQ
# memory alarm or a silent network would hang an API request or a publish forever.
AMQP_DEFAULT_OPTIONS = {
    "heartbeat": "30",
    "blocked_connection_timeout": "10",
    "socket_timeout": "5",
    "stack_timeout": "10",
    "connection_attempts": "1",
}


class ConfigError(ValueError):
    """Raised when an environment variable holds a value that cannot be used."""


def setting(
    default: T,
    meaning: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
) -> T:
    """One row of the settings table: a `Config` field with its default, its limits and its meaning."""
    return field(default=default, metadata={"meaning": meaning, "low": low, "high": high, "choices": choices})


@dataclass(frozen=True, kw_only=True)
class Config:
    """Every setting of the service, web and worker alike."""

    pg_connection_uri: str = setting(
        "postgresql://postgres@127.0.0.1:5432/photo_processor",
        "PostgreSQL URL (not a transaction-mode pooler: the worker holds session advisory locks)",
    )
    amqp_uri: str = setting(
        "amqp://guest:guest@127.0.0.1:5672/%2F",
        "RabbitMQ URL; the connection options of AMQP_DEFAULT_OPTIONS are added unless it sets them",
    )
    # A Path is immutable: one instance can be every Config's default.
    thumbs_dir: Path = setting(  # noqa: RUF009
        Path("./waldo-app-thumbs"), "where thumbnail files go (relative: from the working directory)"
    )
    thumbs_bucket: str | None = setting(
        None,
        "when set, thumbnails go to this S3-compatible bucket instead of THUMBS_DIR; endpoint, "
        "credentials and region from boto3's own variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)",
    )
    thumbs_prefix: str | None = setting(
        None, "the key prefix of the thumbnails in THUMBS_BUCKET (a folder: 'thumbs/')"
    )
    thumbs_public_base_url: str | None = setting(
        None,
        "where the thumbnails are public (a CDN in front of the bucket or folder): each thumbnail "
        "in the API carries <this>/<url> as public_url beside its relative url",
    )
    host: str = setting("127.0.0.1", "the address the API and the worker's metrics listen on")
    port: int = setting(3000, "the port the API listens on", low=1, high=65535)
    web_workers: int = setting(2, "gunicorn worker processes of the API", low=1)
    web_threads: int = setting(4, "threads in each gunicorn worker process", low=1)
    api_token: str | None = setting(None, "when set, requests need 'Authorization: Bearer <token>'")

    retry_max: int = setting(3, "retries of a transient failure (3: up to 4 attempts)", low=0, high=100)
    retry_min_backoff_ms: int = setting(1000, "the shortest wait before a retry", low=1)
    retry_max_backoff_ms: int = setting(60000, "the longest wait before a retry", low=1)
    lease_s: int = setting(
        600, "a photo claimed longer ago than this, whose worker is gone, is queued again", low=1
    )
    max_crashes: int = setting(
        3, "attempts that took the worker down (killed, out of memory) before the photo fails", low=1
    )
    max_per_host: int = setting(
        4, "downloads at once from one source host, per worker process (pipeline/host_breaker.py)", low=1
    )
    host_breaker_failures: int = setting(
        5, "consecutive failures of a source host (no connection, timeout, 5xx) that pause it", low=1
    )
    host_pause_s: float = setting(
        30.0, "how long a failing source host is paused before one probe checks it", low=0.1
    )
    keep_originals: bool = setting(
        False,
        "keep each source in the store under its content hash (originals/<sha256>), which re-rendering "
        "reads instead of downloading it again",
    )
    worker_lanes: str = setting(
        "new,rerender",
        "the lanes this host's worker serves: new (photos posted for processing, the queue "
        "photo-processor), rerender (completed photos rendered again, photo-processor.rerender), "
        "or both; with both, new photos always go first",
    )
    worker_shutdown_ms: int = setting(
        1500,
        "how long a stopping worker waits for its photos in flight (the Procfile passes it to Dramatiq "
        "as --worker-shutdown-timeout); downloads still running at half of it are cut and retried",
        low=1,
    )

    download_timeout_s: float = setting(10.0, "connect and read timeout of one download", low=0.001)
    download_deadline_s: float = setting(60.0, "the longest a whole download may take", low=0.001)
    max_download_bytes: int = setting(50 * 1024 * 1024, "the most bytes read from one source", low=1)
    max_redirects: int = setting(5, "redirects followed, each checked like the first URL", low=0, high=30)
    allow_private_sources: bool = setting(False, "fetch from loopback and private addresses too")

    max_image_pixels: int = setting(
        100_000_000, "the largest image, in pixels, read from its header before decoding", low=1
    )
    max_decode_mb: int = setting(
        256,
        "the most memory, in MB, decoding one image may take, estimated from its header before "
        "decoding; one budget shared by a worker process's threads (256 keeps a process under 300 MB)",
        low=16,
    )
    renditions: str = setting(
        "sm:160,thumb:320",
        "the sizes every photo is rendered in, name:size (the longest side, never enlarged), "
        "name:size@2x adding name@2x at twice the size; thumb is the seed's thumbnail",
    )
    rendition_formats: str = setting(
        "webp",
        "formats each size is written in beside JPEG (PNG for photos with transparency): "
        "webp, avif, both (webp,avif) or none",
    )
    thumb_quality: int = setting(85, "the JPEG quality of the renditions", low=1, high=95)
    webp_quality: int = setting(80, "the WebP quality of the renditions", low=1, high=100)
    avif_quality: int = setting(60, "the AVIF quality of the renditions", low=1, high=100)

    webhook_url: str | None = setting(
        None,
        "where the worker POSTs an event when a photo completes or fails (http or https; the same "
        "address rules as downloads, ALLOW_PRIVATE_SOURCES included); unset: no deliveries",
    )
    webhook_secret: str | None = setting(
        None, "the key of each event's HMAC-SHA256 signature; required when WEBHOOK_URL is set"
    )
    webhook_timeout_s: float = setting(
        10.0,
        "the longest one delivery may take, connecting and answering included (not resolving the name)",
        low=0.1,
        high=300,
    )
    webhook_give_up_after_s: int = setting(
        3 * 24 * 3600,
        "how long after its photo's outcome an event is retried before it is marked dead",
        low=1,
    )
    webhook_max_backoff_s: int = setting(
        3600,
        "the longest wait between two deliveries of an event (exponential from 1 s), and the longest "
        "pause of a worker's deliveries while the receiver is down",
        low=1,
    )
    webhook_retention_s: int = setting(
        7 * 24 * 3600,
        "delivered and dead events (all events, while WEBHOOK_URL is unset) are deleted this long "
        "after their photo's outcome",
        low=60,
    )
    webhook_concurrency: int = setting(4, "deliveries in flight at once, per worker process", low=1, high=64)

    db_statement_timeout_ms: int = setting(15000, "PostgreSQL statement timeout (0: none)", low=0)
    db_dead_peer_s: int = setting(
        30, "a database connection silent this long is dropped, with a vanished worker's locks", low=3
    )
    log_format: str = setting("text", "text for people, json for machines", choices=("text", "json"))
    worker_metrics_port: int = setting(9191, "the worker's Prometheus port (0: none)", low=0, high=65535)

    @property
    def presets(self) -> tuple[Preset, ...]:
        """RENDITIONS read, largest first (load_config has checked it)."""
        return parse_renditions(self.renditions)

    @property
    def extra_formats(self) -> tuple[str, ...]:
        """RENDITION_FORMATS read (load_config has checked it)."""
        return parse_formats(self.rendition_formats)

    @property
    def lanes(self) -> tuple[str, ...]:
        """WORKER_LANES read (load_config has checked it)."""
        return parse_lanes(self.worker_lanes)

    @property
    def amqp_url(self) -> str:
        """AMQP_URI with the connection options the service relies on filled in."""
        return with_default_query(self.amqp_uri, AMQP_DEFAULT_OPTIONS)


# The table as the environment names it: variable -> the Config field it fills.
SETTINGS: dict[str, Field[Any]] = {spec.name.upper(): spec for spec in fields(Config)}
# A field's type says how its variable is parsed: bool, int, float, Path, or text (str, or
# `str | None` when blank means none). The annotations are strings here (__future__), hence this.
_TYPES = get_type_hints(Config)


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    config = Config(**{spec.name: _read(name, spec, env.get(name, "")) for name, spec in SETTINGS.items()})
    if config.retry_min_backoff_ms > config.retry_max_backoff_ms:
        raise ConfigError("RETRY_MIN_BACKOFF_MS must not exceed RETRY_MAX_BACKOFF_MS")
    if config.lease_s * 1000 <= config.retry_max_backoff_ms:
        # A photo waiting for its retry keeps status 'processing'; the lease must outlast the wait.
        raise ConfigError("LEASE_S must be longer than RETRY_MAX_BACKOFF_MS")
    for name, url in (("PG_CONNECTION_URI", config.pg_connection_uri), ("AMQP_URI", config.amqp_uri)):
        if not urlsplit(url).scheme:
            raise ConfigError(f"{name} must be a URL, got {url!r}")
    public = urlsplit(config.thumbs_public_base_url or "https://cdn")
    if public.scheme not in ("http", "https") or not public.netloc:
        raise ConfigError(
            f"THUMBS_PUBLIC_BASE_URL must be an http(s) URL, got {config.thumbs_public_base_url!r}"
        )
    _check_webhook(config)
    _check_renditions(config, env)
    parse_lanes(config.worker_lanes)
    return config


# WORKER_LANES' names (actors/lanes.py names their queues).
LANE_NAMES = ("new", "rerender")


def parse_lanes(text: str) -> tuple[str, ...]:
    """WORKER_LANES as lane names, in LANE_NAMES' order; ConfigError unless at least one, all known."""
    names = {name.strip().lower() for name in text.split(",") if name.strip()}
    if not names or names - set(LANE_NAMES):
        raise ConfigError(f"WORKER_LANES must name new, rerender or both (new,rerender), got {text!r}")
    return tuple(name for name in LANE_NAMES if name in names)


def _check_renditions(config: Config, env: Mapping[str, str]) -> None:
    """RENDITIONS and RENDITION_FORMATS must parse; THUMB_MAX, which RENDITIONS replaced, is
    refused rather than ignored, so that a thumbnail size set before does not change unseen."""
    for name, parse, value in (
        ("RENDITIONS", parse_renditions, config.renditions),
        ("RENDITION_FORMATS", parse_formats, config.rendition_formats),
    ):
        try:
            parse(value)
        except PresetError as error:
            raise ConfigError(f"{name}: {error}") from None
    if env.get("THUMB_MAX", "").strip():
        raise ConfigError(
            "THUMB_MAX is replaced by RENDITIONS: set RENDITIONS=thumb:<size>,... (default sm:160,thumb:320)"
        )


def _check_webhook(config: Config) -> None:
    """A webhook URL must be an http(s) URL, and comes with a secret to sign its events."""
    if config.webhook_url is None:
        return
    target = urlsplit(config.webhook_url)
    if target.scheme not in ("http", "https") or not target.hostname:
        raise ConfigError(f"WEBHOOK_URL must be an http(s) URL, got {config.webhook_url!r}")
    if not config.webhook_secret:
        raise ConfigError("WEBHOOK_SECRET must be set when WEBHOOK_URL is")


def with_default_query(url: str, defaults: Mapping[str, str]) -> str:
    """Return `url` with each of `defaults` added to its query unless already there."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged = {**defaults, **query}
    return urlunsplit(parts._replace(query=urlencode(merged)))


def _read(name: str, spec: Field[Any], raw: str) -> Any:
    """The value of one setting: its default when the variable is unset or blank, else `raw` checked."""
    kind, raw = _TYPES[spec.name], raw.strip()
    default: Any = spec.default  # every field of Config has one
    if kind is bool:
        return _flag(name, raw.lower(), default)
    if kind in (int, float):
        return _number(name, raw, kind, spec) if raw else default
    value = raw or default
    if kind is Path:
        return Path(value).absolute()
    if choices := spec.metadata["choices"]:
        value = value.lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _flag(name: str, value: str, default: bool) -> bool:
    """A yes-or-no setting, written 1/0, true/false, yes/no or on/off."""
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {value!r}")


def _number(name: str, raw: str, parse: type[float], spec: Field[Any]) -> float:
    """A number within the setting's bounds (an int for an int setting)."""
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    low, high = spec.metadata["low"], spec.metadata["high"]
    if low is not None and value < low:
        raise ConfigError(f"{name} must be at least {low}, got {raw!r}")
    if high is not None and value > high:
        raise ConfigError(f"{name} must be at most {high}, got {raw!r}")
    return value
