"""The retry policy: permanent errors fail at once, transient ones are retried up to RETRY_MAX."""

from __future__ import annotations

import peewee
import pytest
from dramatiq.middleware import Shutdown

from pipeline import errors
from pipeline.errors import classify
from pipeline.retry import should_retry


@pytest.mark.parametrize(
    "error",
    [
        errors.SourceHttpError("source answered HTTP 404", status=404),
        errors.SourceRefused("address 169.254.169.254 is link-local"),
        errors.SourceTooLarge("body exceeds 10 bytes"),
        errors.SourceTooSlow("download exceeded the 60 s deadline"),
        errors.NotAnImage("not an image"),
        errors.CorruptImage("truncated"),
        errors.ImageTooLarge("too many pixels"),
    ],
)
def test_permanent_errors_are_never_retried(error: errors.PhotoError) -> None:
    assert not should_retry(0, error, max_retries=3)


@pytest.mark.parametrize(
    "error",
    [errors.SourceUnavailable("HTTP 503"), RuntimeError("a bug or a blip")],
)
def test_transient_and_unexpected_errors_are_retried_up_to_max_retries(error: BaseException) -> None:
    assert [should_retry(retries, error, max_retries=3) for retries in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_database_outage_is_retried_however_long_it_lasts() -> None:
    outage = peewee.OperationalError("could not connect to server")
    assert should_retry(1000, outage, max_retries=3)
    assert should_retry(1000, peewee.InterfaceError("connection already closed"), max_retries=3)


def test_our_storage_down_is_an_outage_retried_however_long_it_lasts() -> None:
    """A full or read-only THUMBS_DIR is not the photo's fault: it waits, it never fails for it."""
    assert should_retry(1000, errors.StorageError("thumbnail folder is full"), max_retries=3)
    assert classify(errors.StorageError("disk full")).outage


def test_every_error_gets_a_code_a_sentence_and_its_meaning() -> None:
    assert classify(errors.SourceHttpError("source answered HTTP 404", status=404)) == errors.Failure(
        "source_http_error", "source answered HTTP 404", transient=False
    )
    assert classify(errors.SourceUnavailable("HTTP 503")).transient
    assert classify(peewee.OperationalError("no route")) == errors.Failure(
        "database_unavailable", "no route", transient=True, outage=True
    )
    bug = classify(KeyError("x"))
    assert (bug.code, bug.transient, bug.outage) == ("internal_error", True, False)
    assert len(classify(RuntimeError("x" * 5000)).reason) <= 500


@pytest.mark.parametrize(
    "stopping", [errors.WorkerStopping("download cut: the worker is stopping"), Shutdown()]
)
def test_a_worker_stopping_mid_photo_is_retried_whatever_retry_max_says(stopping: BaseException) -> None:
    """Our download cut, or Dramatiq's ShutdownNotifications: not the photo's fault, never its failure."""
    failure = classify(stopping)
    assert (failure.code, failure.outage) == ("worker_stopping", True)
    assert should_retry(0, stopping, max_retries=0)
    assert should_retry(1000, stopping, max_retries=3)


def test_the_failure_reason_starts_with_the_error_code() -> None:
    assert classify(errors.SourceHttpError("source answered HTTP 404", status=404)).reason == (
        "source_http_error: source answered HTTP 404"
    )
    assert classify(KeyError("x")).reason.startswith("internal_error: KeyError")
