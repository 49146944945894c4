"""Configuration from the environment: defaults that work here, errors that name the variable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from config import SETTINGS, Config, ConfigError, load_config


def test_defaults_work_on_this_machine_without_any_variable() -> None:
    config = load_config({})
    assert config.pg_connection_uri == "postgresql://postgres@127.0.0.1:5432/photo_processor"
    assert config.amqp_uri == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert config.thumbs_dir == Path("waldo-app-thumbs").absolute()
    assert (config.host, config.port) == ("127.0.0.1", 3000)
    assert (config.retry_max, config.retry_min_backoff_ms, config.retry_max_backoff_ms) == (3, 1000, 60000)
    assert (config.download_timeout_s, config.max_download_bytes) == (10.0, 52428800)
    assert config.allow_private_sources is False
    assert config.api_token is None


def test_amqp_url_gains_timeouts_but_keeps_the_ones_given() -> None:
    config = load_config({"AMQP_URI": "amqp://u:p@rabbit:5672/vh?heartbeat=5"})
    url = config.amqp_url
    assert url.startswith("amqp://u:p@rabbit:5672/vh?")
    assert "heartbeat=5" in url
    assert "blocked_connection_timeout=10" in url
    assert "socket_timeout=5" in url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("RETRY_MAX", "-1"),
        ("DOWNLOAD_TIMEOUT_S", "0"),
        ("ALLOW_PRIVATE_SOURCES", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("PG_CONNECTION_URI", "not a url"),
    ],
)
def test_a_bad_value_raises_an_error_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_min_backoff_above_max_backoff_is_refused() -> None:
    with pytest.raises(ConfigError, match="RETRY_MIN_BACKOFF_MS"):
        load_config({"RETRY_MIN_BACKOFF_MS": "5000", "RETRY_MAX_BACKOFF_MS": "1000"})


def test_a_lease_shorter_than_the_longest_retry_wait_is_refused() -> None:
    with pytest.raises(ConfigError, match="LEASE_S"):
        load_config({"LEASE_S": "30", "RETRY_MAX_BACKOFF_MS": "60000"})


def test_a_config_built_without_variables_has_the_defaults_of_the_dataclass() -> None:
    defaults = Config()
    assert load_config({}) == replace(defaults, thumbs_dir=defaults.thumbs_dir.absolute())


def test_every_setting_says_what_it_means() -> None:
    for name, spec in SETTINGS.items():
        assert spec.metadata["meaning"].strip(), name


@pytest.mark.parametrize(
    "name", [name for name, spec in SETTINGS.items() if spec.metadata["low"] is not None]
)
def test_a_value_below_the_lower_bound_of_its_setting_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be at least"):
        load_config({name: str(SETTINGS[name].metadata["low"] - 1)})


@pytest.mark.parametrize(
    "name", [name for name, spec in SETTINGS.items() if spec.metadata["high"] is not None]
)
def test_a_value_above_the_upper_bound_of_its_setting_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be at most"):
        load_config({name: str(SETTINGS[name].metadata["high"] + 1)})
