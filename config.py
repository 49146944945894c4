"""Configuration: every setting comes from the environment, read here and nowhere else.

`load_config()` builds a frozen `Config` on demand (never at import), so tests and tools can
build one from a dict of their own. A bad value raises `ConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

T = TypeVar("T")

DEFAULT_PG_CONNECTION_URI = "postgresql://postgres@127.0.0.1:5432/photo_processor"
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_THUMBS_DIR = "./waldo-app-thumbs"

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


@dataclass(frozen=True, kw_only=True)
class Config:
    """Every setting of the service, web and worker alike."""

    pg_connection_uri: str = DEFAULT_PG_CONNECTION_URI
    amqp_uri: str = DEFAULT_AMQP_URI
    thumbs_dir: Path = Path(DEFAULT_THUMBS_DIR)
    host: str = "127.0.0.1"
    port: int = 3000
    api_token: str | None = None

    retry_max: int = 3
    retry_min_backoff_ms: int = 1000
    retry_max_backoff_ms: int = 60000
    # A photo claimed longer ago than this, whose worker is gone, is queued again by the reconciler.
    lease_s: int = 600

    download_timeout_s: float = 10.0
    download_deadline_s: float = 60.0
    max_download_bytes: int = 50 * 1024 * 1024
    max_redirects: int = 5
    allow_private_sources: bool = False

    max_image_pixels: int = 100_000_000
    thumb_max: int = 320
    thumb_quality: int = 85

    db_statement_timeout_ms: int = 15000
    log_format: str = "text"
    worker_metrics_port: int = 9191

    @property
    def amqp_url(self) -> str:
        """AMQP_URI with the connection options the service relies on filled in."""
        return with_default_query(self.amqp_uri, AMQP_DEFAULT_OPTIONS)


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    reader = _Reader(env)
    config = Config(
        pg_connection_uri=reader.text("PG_CONNECTION_URI", DEFAULT_PG_CONNECTION_URI),
        amqp_uri=reader.text("AMQP_URI", DEFAULT_AMQP_URI),
        thumbs_dir=Path(reader.text("THUMBS_DIR", DEFAULT_THUMBS_DIR)).absolute(),
        host=reader.text("HOST", "127.0.0.1"),
        port=reader.integer("PORT", 3000, low=1, high=65535),
        api_token=reader.text("API_TOKEN", "") or None,
        retry_max=reader.integer("RETRY_MAX", 3, low=0, high=100),
        retry_min_backoff_ms=reader.integer("RETRY_MIN_BACKOFF_MS", 1000, low=1),
        retry_max_backoff_ms=reader.integer("RETRY_MAX_BACKOFF_MS", 60000, low=1),
        lease_s=reader.integer("LEASE_S", 600, low=1),
        download_timeout_s=reader.number("DOWNLOAD_TIMEOUT_S", 10.0, low=0.001),
        download_deadline_s=reader.number("DOWNLOAD_DEADLINE_S", 60.0, low=0.001),
        max_download_bytes=reader.integer("MAX_DOWNLOAD_BYTES", 50 * 1024 * 1024, low=1),
        max_redirects=reader.integer("MAX_REDIRECTS", 5, low=0, high=30),
        allow_private_sources=reader.flag("ALLOW_PRIVATE_SOURCES", False),
        max_image_pixels=reader.integer("MAX_IMAGE_PIXELS", 100_000_000, low=1),
        thumb_max=reader.integer("THUMB_MAX", 320, low=1, high=4096),
        thumb_quality=reader.integer("THUMB_QUALITY", 85, low=1, high=95),
        db_statement_timeout_ms=reader.integer("DB_STATEMENT_TIMEOUT_MS", 15000, low=0),
        log_format=reader.choice("LOG_FORMAT", "text", ("text", "json")),
        worker_metrics_port=reader.integer("WORKER_METRICS_PORT", 9191, low=0, high=65535),
    )
    if config.retry_min_backoff_ms > config.retry_max_backoff_ms:
        raise ConfigError("RETRY_MIN_BACKOFF_MS must not exceed RETRY_MAX_BACKOFF_MS")
    if config.lease_s * 1000 <= config.retry_max_backoff_ms:
        # A photo waiting for its retry keeps status 'processing'; the lease must outlast the wait.
        raise ConfigError("LEASE_S must be longer than RETRY_MAX_BACKOFF_MS")
    for name, url in (("PG_CONNECTION_URI", config.pg_connection_uri), ("AMQP_URI", config.amqp_uri)):
        if not urlsplit(url).scheme:
            raise ConfigError(f"{name} must be a URL, got {url!r}")
    return config


def with_default_query(url: str, defaults: Mapping[str, str]) -> str:
    """Return `url` with each of `defaults` added to its query unless already there."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged = {**defaults, **query}
    return urlunsplit(parts._replace(query=urlencode(merged)))


class _Reader:
    """Typed reads of environment variables, each error naming its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, "").strip()
        return value or default

    def integer(self, name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
        return self._bounded(name, default, int, low, high)

    def number(self, name: str, default: float, *, low: float | None = None) -> float:
        return self._bounded(name, default, float, low, None)

    def flag(self, name: str, default: bool) -> bool:
        value = self._env.get(name, "").strip().lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be 1 or 0 (true or false), got {value!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def _bounded(self, name: str, default: T, parse: Callable[[str], T], low: T | None, high: T | None) -> T:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if low is not None and value < low:  # type: ignore[operator]
            raise ConfigError(f"{name} must be at least {low}, got {raw!r}")
        if high is not None and value > high:  # type: ignore[operator]
            raise ConfigError(f"{name} must be at most {high}, got {raw!r}")
        return value
