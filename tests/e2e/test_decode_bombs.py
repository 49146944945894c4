"""Small files that decode huge, through a real worker process at the default limits.

Within the 100 MP pixel cap, a 100 MP RGB TIFF tagged orientation 6 used to cost the worker
+772 MB (turned at full size), a 100 MP palette PNG +489 MB (converted to RGB at full size), and
a 100 MP progressive grey JPEG +202 MB. The worker's peak RSS must stay at most 300 MB: the PNG and
the JPEG complete (reduced and converted a tile at a time), the TIFF, which would need 400 MB for
its pixels alone, is refused from its header as image_too_large (MAX_DECODE_MB, 256).
tests/unit/test_thumbnail_memory.py measures each kind, and more, on the thumbnail function alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import Database

from harness import bombs, proc_tree
from harness.imageserver import ImageServer, Reply
from harness.service_processes import ServiceProcess
from tests.e2e.conftest import wait_for_status
from tests.e2e.reliability import expect, fault, fresh_worker, running, wait_for_workers
from tests.support.data import insert_photo, photo_row
from tests.support.images import photo_bytes

WORKER_PEAK_MB = 300
THE_THREE = ("tiff-100mp-rgb-orientation-6.tif", "png-100mp-palette.png", "jpeg-100mp-progressive-grey.jpg")


# Every photo the module follows is audited at its end (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("ledger_audit")


@pytest.fixture(scope="module")
def bomb_worker(service_env: dict[str, str], log_dir: Path) -> Iterator[tuple[ServiceProcess, int]]:
    """A worker of 1 process and 1 thread at the default MAX_IMAGE_PIXELS and MAX_DECODE_MB."""
    with running(fresh_worker(service_env, log_dir)) as process:
        [pid] = wait_for_workers(process)
        yield process, pid


def _run(
    database: Database, actors_package: Any, image_server: ImageServer, body: bytes, content_type: str
) -> str:
    """Serve `body`, send its photo to the worker and wait for its end; return the photo's UUID."""
    url = image_server.serve(f"/bomb-{uuid.uuid4()}", Reply(body=body, content_type=content_type))
    photo_id = insert_photo(database, url)
    actors_package.process_photo.send(photo_id)
    wait_for_status(database, photo_id, "completed", "failed", timeout=120)
    return photo_id


def test_the_three_decode_bombs_leave_the_worker_under_300_mb_and_end_as_they_should(
    bomb_worker: tuple[ServiceProcess, int],
    database: Database,
    actors_package: Any,
    image_server: ImageServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    process, pid = bomb_worker
    directory = tmp_path_factory.mktemp("bombs")
    control = expect(
        _run(database, actors_package, image_server, photo_bytes(1200, 800), "image/jpeg"), "completed"
    )
    assert photo_row(database, control)["status"] == "completed"
    peaks = {"after an ordinary photo": proc_tree.peak_rss_kib(pid) / 1024}

    for name in THE_THREE:
        bomb = bombs.BOMBS[name]
        body = bombs.write(name, directory).read_bytes()
        assert len(body) < 1_000_000, "a bomb is a small file"
        photo_id = _run(database, actors_package, image_server, body, bomb.content_type)
        fault(f"decode bomb: {bomb.title}")
        row = photo_row(database, expect(photo_id, "completed" if bomb.outcome == "completed" else "failed"))
        peaks[bomb.title] = proc_tree.peak_rss_kib(pid) / 1024
        assert proc_tree.dramatiq_workers(process.pid) == [pid], f"the worker died on the {bomb.title}"
        if bomb.outcome == "completed":
            assert row["status"] == "completed", row
            assert [(width, height) for width, height, _ in row["thumbnails"]] == [bomb.upright]
        else:
            assert row["status"] == "failed", row
            assert row["failure_reason"].startswith(f"{bomb.outcome}: "), row["failure_reason"]
            assert "decode budget of 256 MB" in row["failure_reason"]
            assert row["attempts"] == 1, "too large is permanent: not retried"

    assert max(peaks.values()) <= WORKER_PEAK_MB, peaks


def test_the_costliest_image_the_budget_accepts_leaves_the_worker_under_300_mb(
    bomb_worker: tuple[ServiceProcess, int],
    database: Database,
    actors_package: Any,
    image_server: ImageServer,
) -> None:
    """An RGB TIFF one row short of MAX_DECODE_MB (256): the most memory an accepted input takes.
    A worker of 1 thread holds ~57 MB of its own, so 256 MB of estimate keeps it under 300."""
    process, pid = bomb_worker
    accepted, refused = bombs.at_the_budget(256)

    done = expect(_run(database, actors_package, image_server, accepted, "image/tiff"), "completed")
    too_large = expect(_run(database, actors_package, image_server, refused, "image/tiff"), "failed")
    fault("decode bomb: the costliest input within the decode budget")
    fault("decode bomb: one row over the decode budget")

    assert photo_row(database, done)["status"] == "completed"
    assert photo_row(database, too_large)["failure_reason"].startswith("image_too_large: ")
    assert proc_tree.dramatiq_workers(process.pid) == [pid], "the worker died"
    peak = proc_tree.peak_rss_kib(pid) / 1024
    assert peak <= WORKER_PEAK_MB, f"the worker's peak RSS: {peak:.0f} MB"
