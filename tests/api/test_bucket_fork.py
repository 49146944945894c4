"""A bucket store's client is made in the process that uses it: a forked child makes its own.

In a module of its own: no other test's threads (a moto server's, in test_stores.py) run when
it forks.
"""

from __future__ import annotations

import multiprocessing
import uuid

from harness.s3server import S3Server
from pipeline.bucket_store import BucketStore
from pipeline.storage import thumbnail_relpath

JPEG = b"\xff\xd8 a jpeg thumbnail"


def _write_in_child(store: BucketStore, photo_id: uuid.UUID) -> None:
    inherited = store._client
    store.write(thumbnail_relpath(photo_id, ".jpg"), JPEG)
    raise SystemExit(0 if store._client is not inherited else 3)


def test_a_forked_process_makes_its_own_client(bucket_env: dict[str, str], s3_server: S3Server) -> None:
    store = BucketStore(bucket_env["THUMBS_BUCKET"])
    store.check()  # the parent's client exists before the fork, as in a worker's parent
    photo_id = uuid.uuid4()

    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(store, photo_id))
    child.start()
    child.join(timeout=60)

    assert child.exitcode == 0, "the child wrote through a client of its own"
    assert thumbnail_relpath(photo_id, ".jpg") in s3_server.objects(bucket_env["THUMBS_BUCKET"])
