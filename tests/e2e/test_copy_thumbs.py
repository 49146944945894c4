"""`python -m service copy-thumbs`: the folder's thumbnails copied into a bucket on a real S3 server,
once, resumably, and nothing but thumbnails.

The command runs as an operator runs it, a process of its own; what the bucket then holds is read
from the server's folder.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.s3server import S3Server
from pipeline.bucket_store import BucketStore
from pipeline.folder_store import FolderStore
from pipeline.s3_client import make_client
from pipeline.storage import thumbnail_relpath
from tests.support.commands import service_command

PREFIX = "thumbs/"


@pytest.fixture
def env(service_env: dict[str, str], bucket_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The settings of a user moving up: a folder of thumbnails of its own and a new bucket."""
    return {**service_env, **bucket_env, "THUMBS_DIR": str(tmp_path / "thumbs"), "THUMBS_PREFIX": PREFIX}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command, as an operator runs it."""
    return service_command(env, "copy-thumbs", *args, timeout=120)


def _photo_id(fan_out: str) -> uuid.UUID:
    """A new UUID whose thumbnails go to folder `fan_out`."""
    return uuid.UUID(fan_out + uuid.uuid4().hex[2:])


def _thumbnails(folder: Path, count: int) -> dict[str, bytes]:
    """`count` thumbnails written by the folder store, JPEG and WebP, by relpath: the n-th in
    folder `1n` (hex), so each is alone in its folder."""
    store = FolderStore(folder)
    written = {}
    for n in range(count):
        data, extension = (b"\xff\xd8 jpeg %d" % n, ".jpg") if n % 3 else (b"RIFF webp %d" % n, ".webp")
        written[store.write(thumbnail_relpath(_photo_id(f"{n + 16:02x}"), extension), data * (n + 1))] = (
            data * (n + 1)
        )
    return written


def _in_bucket(thumbnails: dict[str, bytes]) -> dict[str, bytes]:
    """What the bucket holds once `thumbnails` are copied: their bytes by key."""
    return {PREFIX + relpath: data for relpath, data in thumbnails.items()}


def test_every_thumbnail_is_copied_with_its_type_and_a_second_run_copies_nothing(
    env: dict[str, str], s3_server: S3Server
) -> None:
    folder, bucket = Path(env["THUMBS_DIR"]), env["THUMBS_BUCKET"]
    thumbnails = _thumbnails(folder, 5)
    fan_out, name = next(iter(thumbnails)).split("/")
    photo_id = _photo_id("ff")
    others = [
        f"{fan_out}/.{name}.0123456789ab.tmp",  # a writer's temporary file
        f"{fan_out}/notes.txt",
        f"{fan_out}/{photo_id}.jpg",  # a UUID in another's folder
        f"{str(photo_id)[:2]}/{str(photo_id).upper()}.jpg",
        f"{str(photo_id)[:2]}/{photo_id}.png",
        f"{photo_id}.jpg",
        f"thumbs/{str(photo_id)[:2]}/{photo_id}.jpg",
    ]
    for other in others:
        (folder / other).parent.mkdir(parents=True, exist_ok=True)
        (folder / other).write_bytes(b"not a thumbnail to copy")

    first = _run(env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "copied 5, already there 0"
    assert s3_server.objects(bucket) == _in_bucket(thumbnails)
    webp = next(relpath for relpath in thumbnails if relpath.endswith(".webp"))
    head = make_client().head_object(Bucket=bucket, Key=PREFIX + webp)
    assert (head["ContentType"], head["CacheControl"]) == (
        "image/webp",
        "public, max-age=60, must-revalidate",
    )

    second = _run(env)

    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == "copied 0, already there 5"
    assert s3_server.objects(bucket) == _in_bucket(thumbnails)


def test_run_again_after_a_stop_it_copies_only_what_is_missing(
    env: dict[str, str], s3_server: S3Server
) -> None:
    folder, bucket = Path(env["THUMBS_DIR"]), env["THUMBS_BUCKET"]
    thumbnails = _thumbnails(folder, 6)
    relpaths = sorted(thumbnails)
    store = BucketStore(bucket, prefix=PREFIX)
    store.put(relpaths[0], thumbnails[relpaths[0]])  # copied before the run stopped
    # Written by a worker already on the bucket (the photo processed again): newer than the file.
    store.put(relpaths[1], b"\xff\xd8 a newer thumbnail")

    result = _run(env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "copied 4, already there 2"
    expected = {**_in_bucket(thumbnails), PREFIX + relpaths[1]: b"\xff\xd8 a newer thumbnail"}
    assert s3_server.objects(bucket) == expected, "an object in the bucket is never overwritten"


def test_thumbnails_the_bucket_refuses_are_counted_named_and_fail_the_run(
    env: dict[str, str], s3_server: S3Server
) -> None:
    folder, bucket = Path(env["THUMBS_DIR"]), env["THUMBS_BUCKET"]
    thumbnails = _thumbnails(folder, 4)
    refused = sorted(thumbnails)[0]
    # The server keeps objects as files: under a key that is a file, no key can be a folder.
    make_client().put_object(Bucket=bucket, Key=PREFIX + refused.split("/")[0], Body=b"in the way")

    result = _run(env)

    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "copied 3, already there 0, failed 1"
    assert refused in result.stderr
    copied = {key: data for key, data in s3_server.objects(bucket).items() if key.endswith((".jpg", ".webp"))}
    assert copied == _in_bucket({relpath: thumbnails[relpath] for relpath in sorted(thumbnails)[1:]})


def test_a_bucket_refusing_everything_stops_the_run_early(env: dict[str, str], s3_server: S3Server) -> None:
    store = FolderStore(Path(env["THUMBS_DIR"]))
    for _ in range(400):
        store.write(thumbnail_relpath(_photo_id("ab"), ".jpg"), b"\xff\xd8 jpeg")
    make_client().put_object(Bucket=env["THUMBS_BUCKET"], Key=PREFIX + "ab", Body=b"in the way")

    result = _run(env, "--threads", "32")  # each refusal is retried once, after a pause

    assert result.returncode == 1
    assert "Stopped after 50 failures in a row" in result.stderr
    summary = re.fullmatch(r"copied 0, already there 0, failed (\d+)", result.stdout.splitlines()[-1])
    assert summary is not None, result.stdout
    assert 50 <= int(summary[1]) < 400
    assert len(result.stderr.split("could not write")) - 1 == 5, "the first errors only"


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("THUMBS_BUCKET", "", "THUMBS_BUCKET is not set"),
        ("THUMBS_DIR", "/nonexistent/thumbs", "THUMBS_DIR /nonexistent/thumbs does not exist"),
    ],
)
def test_without_a_bucket_or_a_folder_it_refuses(
    env: dict[str, str], setting: str, value: str, said: str
) -> None:
    _thumbnails(Path(env["THUMBS_DIR"]), 1)

    result = _run({**env, setting: value})

    assert result.returncode == 2
    assert said in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("THUMBS_BUCKET", "no-such-bucket-here", "the bucket does not exist"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9", "127.0.0.1:9"),  # the discard port: nobody there
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-of-this-server-000000", "refused our signature"),
    ],
)
def test_a_bucket_it_cannot_list_is_said_plainly_and_nothing_is_copied(
    env: dict[str, str], s3_server: S3Server, setting: str, value: str, said: str
) -> None:
    _thumbnails(Path(env["THUMBS_DIR"]), 2)

    result = _run({**env, setting: value})

    assert result.returncode == 1
    assert said in result.stderr
    assert "Nothing was copied" in result.stderr
    assert "Traceback" not in result.stderr
    assert s3_server.objects(env["THUMBS_BUCKET"]) == {}
