"""`python -m service process-pending`: every pending photo queued once, paged, idempotent.

No worker runs in this module, so the queue shows exactly what the command published.
"""

from __future__ import annotations

import subprocess

from peewee import Database

from harness.queue import QueueProbe
from tests.support.commands import service_command


def _run(service_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return service_command(service_env, "process-pending", *args)


def test_every_pending_photo_is_queued_once_and_a_second_run_queues_nothing(
    service_env: dict[str, str], database: Database, queue: QueueProbe
) -> None:
    database.execute_sql("DELETE FROM photos WHERE status = 'pending'")
    pending = {
        str(row[0])
        for row in database.execute_sql(
            "INSERT INTO photos (url, created_at)"
            " SELECT 'http://127.0.0.1:9/' || n || '.jpg', now() - make_interval(secs => mod(n, 7))"
            " FROM generate_series(1, 2500) n RETURNING uuid"
        )
    }
    database.execute_sql(
        "INSERT INTO photos (url, status) VALUES ('http://127.0.0.1:9/done.jpg', 'completed')"
    )

    first = _run(service_env, "--batch-size", "1000")
    assert first.returncode == 0, first.stderr
    assert "2500 pending photo(s) queued" in first.stdout
    sent = queue.photo_ids()
    assert len(sent) == 2500
    assert set(sent) == pending

    second = _run(service_env)
    assert second.returncode == 0, second.stderr
    assert "0 pending photo(s) queued" in second.stdout
    assert queue.photo_ids() == []

    forced = _run(service_env, "--skip-queued-within", "0")
    assert "2500 pending photo(s) queued" in forced.stdout
    assert len(queue.photo_ids()) == 2500
    database.execute_sql("DELETE FROM photos WHERE uuid = ANY(%s::uuid[])", (list(pending),))
