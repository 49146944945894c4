"""The two thumbnail stores behind one interface: a folder, and a bucket on a real S3 server.

Each contract test runs on the folder and on a bucket of two S3-compatible servers of different
making (rclone's, which keeps files and checks signatures; moto's, in memory): what passes on
both depends on neither's quirks. The bucket's own faults (unreachable, wrong credentials,
missing bucket) and its wire details (keys, media type, Cache-Control, a client per process)
follow, on rclone.
"""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.moto_server import MotoServer
from harness.s3server import S3Server
from pipeline.bucket_store import BucketStore
from pipeline.errors import StorageError, ThumbnailRefused, classify
from pipeline.folder_store import FolderStore
from pipeline.s3_client import make_client
from pipeline.storage import ThumbnailStore, thumbnail_relpath

PREFIX = "thumbs/"
# A HEAD answer has no body to name the cause: a 403 is all the store says, and we say what it means.
CREDENTIALS_REFUSED = (
    "access denied: check the credentials|does not know AWS_ACCESS_KEY_ID|refused our signature"
)
JPEG, WEBP = b"\xff\xd8 a jpeg thumbnail", b"RIFF a webp thumbnail"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["folder", "bucket on rclone", "bucket on moto"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThumbnailStore:
    """Each store, the bucket on two S3 servers of different making."""
    if request.param == "folder":
        return FolderStore(tmp_path / "thumbs")
    if request.param == "bucket on rclone":
        return BucketStore(request.getfixturevalue("bucket_env")["THUMBS_BUCKET"], prefix=PREFIX)
    server: MotoServer = request.getfixturevalue("moto_server")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    return BucketStore(server.new_bucket(), prefix=PREFIX)


def _content(store: ThumbnailStore, relpath: str) -> bytes | None:
    stored = store.read(relpath)
    if stored is None:
        return None
    assert stored.body is not None
    with stored.body:
        data = stored.body.read()
    assert len(data) == stored.size
    return data


def test_a_written_thumbnail_reads_back_whole_under_its_relative_path(store: ThumbnailStore) -> None:
    store.start()
    store.check()
    photo_id = uuid.uuid4()

    relpath = store.write(thumbnail_relpath(photo_id, ".jpg"), JPEG)

    assert relpath == thumbnail_relpath(photo_id, ".jpg")
    stored = store.read(relpath, held=("x",))
    assert stored is not None
    assert stored.body is not None
    stored.body.close()
    assert stored.media_type == "image/jpeg"
    assert stored.size == len(JPEG)
    assert _content(store, relpath) == JPEG


def test_a_client_holding_the_etag_gets_no_body(store: ThumbnailStore) -> None:
    relpath = store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)
    first = store.read(relpath)
    assert first is not None
    assert first.body is not None
    first.body.close()

    held = store.read(relpath, held=("some-other-tag", first.etag))
    stale = store.read(relpath, held=("some-other-tag",))

    assert held is not None
    assert held.body is None
    assert held.etag == first.etag
    assert stale is not None
    assert stale.body is not None
    stale.body.close()


def test_new_content_under_the_same_name_has_a_new_etag(store: ThumbnailStore) -> None:
    photo_id = uuid.uuid4()
    relpath = store.write(thumbnail_relpath(photo_id, ".jpg"), b"\xff\xd8 first")
    first = store.read(relpath, held=("x",))
    store.write(thumbnail_relpath(photo_id, ".jpg"), b"\xff\xd8 other")
    second = store.read(relpath, held=("x",))
    assert first is not None
    assert second is not None
    for stored in (first, second):
        assert stored.body is not None
        stored.body.close()
    assert first.etag != second.etag


def test_unknown_and_escaping_paths_read_as_nothing(store: ThumbnailStore) -> None:
    folder = store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)[:2]
    too_long = f"{folder}/{'x' * 300}.jpg"  # in a folder that exists: a name the filesystem refuses
    for path in (
        "ab/nothing.jpg",
        "../etc/passwd",
        "/etc/passwd",
        "ab/../../x.jpg",
        "",
        "ab/x.exe",
        too_long,
    ):
        assert store.read(path) is None, path


def test_remove_keeps_only_the_named_thumbnail_and_touches_no_other_photo(store: ThumbnailStore) -> None:
    photo_id, other = uuid.uuid4(), uuid.uuid4()
    jpeg = store.write(thumbnail_relpath(photo_id, ".jpg"), JPEG)
    webp = store.write(thumbnail_relpath(photo_id, ".webp"), WEBP)
    others = store.write(thumbnail_relpath(other, ".jpg"), JPEG)

    store.remove(photo_id, keep=(webp,))
    assert (_content(store, jpeg), _content(store, webp)) == (None, WEBP)

    store.remove(photo_id)
    assert _content(store, webp) is None
    assert _content(store, others) == JPEG
    store.remove(photo_id)  # nothing left to remove is no error


def test_objects_are_keyed_under_the_prefix_with_their_media_type_and_cache_control(
    bucket_env: dict[str, str], s3_server: S3Server
) -> None:
    bucket = bucket_env["THUMBS_BUCKET"]
    store = BucketStore(bucket, prefix="/thumbs")  # a prefix is a folder, slashes or not
    photo_id = uuid.uuid4()
    relpath = store.write(thumbnail_relpath(photo_id, ".webp"), WEBP)

    assert s3_server.objects(bucket) == {f"thumbs/{relpath}": WEBP}
    head = make_client().head_object(Bucket=bucket, Key=f"thumbs/{relpath}")
    assert head["ContentType"] == "image/webp"
    assert head["CacheControl"] == "public, max-age=60, must-revalidate"


def test_an_unreachable_store_is_an_outage_at_check_and_at_write(
    bucket_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nobody there
    store = BucketStore(bucket_env["THUMBS_BUCKET"])

    with pytest.raises(StorageError, match=re.escape("127.0.0.1:9")) as at_check:
        store.check()
    with pytest.raises(StorageError, match="could not write") as at_write:
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)

    for error in (at_check.value, at_write.value):
        failure = classify(error)
        assert failure.transient, "photos wait for the store; none fails for it"
        assert failure.outage, "an outage of ours: no attempt of the photo's is spent"


class _FaultyS3(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint answering each method as `answers` says ((status, error code); 200 for a
    method not named), and recording the requests it got."""

    answers: dict[str, tuple[int, str]] = {}
    requests: list[str] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append(f"{self.command} {self.path}")
        status, code = self.answers.get(self.command, (200, ""))
        body = f"<Error><Code>{code}</Code><Message>refused</Message></Error>".encode() if code else b""
        self.send_response(status)
        self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def faulty_s3(bucket_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_FaultyS3]]:
    """A _FaultyS3 of its own on 127.0.0.1, where boto3 looks; yields its class, to set its answers."""
    handler = type("Faulty", (_FaultyS3,), {"answers": {}, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "code", "said"), [(503, "SlowDown", "throttling"), (500, "InternalError", "failed")]
)
def test_a_throttling_or_failing_store_is_an_outage(
    faulty_s3: type[_FaultyS3], status: int, code: str, said: str
) -> None:
    faulty_s3.answers.update(dict.fromkeys(("GET", "PUT", "HEAD", "DELETE"), (status, code)))
    store = BucketStore("thumbs")
    with pytest.raises(StorageError, match=said) as refused:
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)
    with pytest.raises(StorageError):
        store.check()
    assert code in str(refused.value) or str(status) in str(refused.value)
    assert classify(refused.value).outage, "photos wait for the store; none fails for it"


def test_one_thumbnail_the_store_refuses_counts_against_the_photo_not_as_an_outage(
    faulty_s3: type[_FaultyS3],
) -> None:
    faulty_s3.answers["PUT"] = (400, "InvalidArgument")
    store = BucketStore("thumbs")

    with pytest.raises(ThumbnailRefused, match="InvalidArgument") as refused:
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)

    failure = classify(refused.value)
    assert failure.transient, "retried, within the photo's budget"
    assert not failure.outage, "else the photo would be downloaded again for as long as it lasts"
    store.check()  # the store itself is up: no probe, no wait for other photos


def test_after_a_failed_write_check_probes_with_a_write_until_one_succeeds(
    faulty_s3: type[_FaultyS3],
) -> None:
    """The bucket answering HEAD is not enough after a write failed: only a write that succeeds
    says the store takes thumbnails again."""
    faulty_s3.answers["PUT"] = (503, "SlowDown")
    store = BucketStore("thumbs", prefix=PREFIX)
    with pytest.raises(StorageError):
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)

    with pytest.raises(StorageError, match=r"could not write .*probe"):
        store.check()
    del faulty_s3.answers["PUT"]
    faulty_s3.requests.clear()
    store.check()

    methods = [request.split()[0] for request in faulty_s3.requests]
    assert methods == ["HEAD", "PUT", "DELETE"], "a probe object written, then removed"
    faulty_s3.requests.clear()
    store.check()
    assert faulty_s3.requests == [], "once a write succeeded, the store is trusted for a while again"


def test_an_endpoint_that_is_no_url_is_said_plainly_and_is_an_outage(
    bucket_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    store = BucketStore(bucket_env["THUMBS_BUCKET"])

    store.start()
    with pytest.raises(StorageError, match="could not make a client") as refused:
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)

    assert classify(refused.value).outage
    assert any("not a url" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-of-this-server-000000", CREDENTIALS_REFUSED),
        ("AWS_ACCESS_KEY_ID", "AKIANOBODYKNOWNHERE0", CREDENTIALS_REFUSED),
        ("THUMBS_BUCKET", "no-such-bucket-here", "does not exist"),
    ],
)
def test_wrong_credentials_or_a_missing_bucket_are_said_plainly(
    bucket_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv(variable, value)
    bucket = value if variable == "THUMBS_BUCKET" else bucket_env["THUMBS_BUCKET"]
    store = BucketStore(bucket)

    store.start()  # says so in the log, and does not raise: the worker keeps running, photos wait
    with pytest.raises(StorageError, match=said):
        store.check()
    with pytest.raises(StorageError):
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)
    assert any(
        "unusable" in record.getMessage() and bucket in record.getMessage() for record in caplog.records
    )


def test_after_a_failed_write_to_a_missing_bucket_check_waits_until_it_exists(
    bucket_env: dict[str, str], s3_server: S3Server
) -> None:
    bucket = f"{bucket_env['THUMBS_BUCKET']}-later"
    store = BucketStore(bucket, prefix=PREFIX)
    with pytest.raises(StorageError):
        store.write(thumbnail_relpath(uuid.uuid4(), ".jpg"), JPEG)
    with pytest.raises(StorageError, match="does not exist"):
        store.check()

    s3_server.create_bucket(bucket)  # the operator creates it
    store.check()

    assert s3_server.objects(bucket) == {}, "the probe leaves nothing behind"
