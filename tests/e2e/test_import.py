"""`python -m service import FILE`: photos added by URL from a file of each format, bad lines
reported by number and skipped, re-runs with --skip-existing adding nothing, --process queueing.

The command runs as an operator runs it, a process of its own, on this run's database; no worker
runs in this module, so the queue shows exactly what the command published. Each test uses URLs
of its own (a fresh host name), so the photos other tests leave do not count.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from peewee import Database

from harness.polling import wait_until
from harness.queue import QUEUE, QueueProbe
from harness.services import RunServices, clear_policy, policy_of, set_policy
from service.import_batches import SKIP_EXISTING_LOCK
from tests.support.commands import REPO, service_command
from tests.support.data import insert_photo, kept_and_counted

FULL = "photo-processor-full"


def _import(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command, as an operator runs it."""
    return service_command(env, "import", *args, stdin=stdin, timeout=120)


def _host() -> str:
    """A host name no other test's URLs use."""
    return f"h{uuid.uuid4().hex[:12]}.example"


def _photos(database: Database, host: str) -> dict[str, list[str]]:
    """This test's photos: their statuses by URL."""
    rows = database.execute_sql(
        "SELECT url, status::text FROM photos WHERE url LIKE %s ORDER BY url", (f"%//{host}/%",)
    ).fetchall()
    found: dict[str, list[str]] = {}
    for url, status in rows:
        found.setdefault(url, []).append(status)
    return found


def _bad_lines(stderr: str) -> list[int]:
    """The line numbers the command reported bad."""
    return [int(number) for number in re.findall(r"^line (\d+): ", stderr, re.MULTILINE)]


def _summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.splitlines()[-1]


def _sample(fmt: str, host: str) -> tuple[bytes, list[str], list[int]]:
    """A file of `fmt` with good and bad lines: its bytes, its good URLs, its bad lines' numbers."""
    good = [f"https://{host}/{n}.jpg" for n in range(3)]
    if fmt == "lines":
        text = (
            f"# photos to add\n{good[0]}\n\nftp://{host}/not-http.jpg\n  {good[1]}  \n"
            f"http://{host}/\xff.jpg\n/relative/path.jpg\n{good[2]}\nhttp:///no-host.jpg\n"
        )
        return text.encode("latin-1"), good, [4, 6, 7, 9]
    if fmt == "csv":
        text = (
            f'id,title,URL\n1,a,{good[0]}\n2,"a title,\nover two lines",{good[1]}\n3,b,not a url\n'
            f"4,c\n5,\xff,https://{host}/bad-bytes.jpg\n\n6,d,https://{host}:99999/port.jpg\n7,e,{good[2]}\n"
        )
        return text.encode("latin-1"), good, [5, 6, 7, 9]
    text = (
        f'{{"url": "{good[0]}", "title": "a"}}\n{{"url": 5}}\n["{good[1]}"]\n{{"url": "{good[1]}"}}\n'
        f'{{"url": "https://{host}/\xff.jpg"}}\n{{"url": "https://{host}/cut.jpg"\n\n{{"url": "{good[2]}"}}\n'
        f'{{"url": "https://{host}/{"x" * 2048}.jpg"}}\n'
    )
    return text.encode("latin-1"), good, [2, 3, 5, 6, 9]


@pytest.mark.parametrize("fmt", ["lines", "csv", "ndjson"])
def test_good_lines_are_imported_and_bad_ones_reported_by_number(
    service_env: dict[str, str], database: Database, tmp_path: Path, fmt: str
) -> None:
    host = _host()
    data, good, bad = _sample(fmt, host)
    path = tmp_path / f"photos.{fmt}"
    path.write_bytes(data)

    result = _import(service_env, str(path))

    assert result.returncode == 0, result.stderr
    assert _summary(result) == f"imported {len(good)}, skipped {len(bad)} bad line(s), 0 already present"
    assert _bad_lines(result.stderr) == bad
    assert f"reading {path} as {fmt}" in result.stderr
    assert _photos(database, host) == {url: ["pending"] for url in good}
    assert "Traceback" not in result.stderr


def test_standard_input_is_read_with_a_dash_and_the_format_told(
    service_env: dict[str, str], database: Database
) -> None:
    host = _host()
    urls = [f"http://{host}/{n}.png" for n in range(4)]
    # Told it is lines, the first line is a URL even though it looks like a CSV header with url.
    text = "url,x\n" + "\n".join(urls) + "\n"

    result = _import(service_env, "-", "--format", "lines", stdin=text)

    assert result.returncode == 0, result.stderr
    assert _summary(result) == "imported 4, skipped 1 bad line(s), 0 already present"
    assert _bad_lines(result.stderr) == [1]
    assert "reading standard input as lines" in result.stderr
    assert _photos(database, host) == {url: ["pending"] for url in urls}


def test_skip_existing_adds_each_url_once_and_a_rerun_adds_nothing(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    urls = [f"https://{host}/{n}.jpg" for n in range(10)]
    insert_photo(database, urls[0], status="completed")  # there already, in any status
    insert_photo(database, urls[1], status="failed")
    # Repeats in one batch and across batches (of 3 URLs each: [2, 2, 0], [1, 2, 3], ...).
    lines = [urls[2], urls[2], *urls, urls[5], "bad", urls[9]]
    path = tmp_path / "photos.txt"
    path.write_text("\n".join(lines) + "\n")

    first = _import(service_env, str(path), "--skip-existing", "--batch-size", "3")

    assert first.returncode == 0, first.stderr
    assert _summary(first) == "imported 8, skipped 1 bad line(s), 6 already present"
    photos = _photos(database, host)
    assert photos == {
        urls[0]: ["completed"],
        urls[1]: ["failed"],
        **{url: ["pending"] for url in urls[2:]},
    }

    second = _import(service_env, str(path), "--skip-existing")

    assert second.returncode == 0, second.stderr
    assert _summary(second) == "imported 0, skipped 1 bad line(s), 14 already present"
    assert _photos(database, host) == photos


@pytest.mark.parametrize("skip", [[], ["--skip-existing"]])
def test_backslashes_are_stored_exactly_and_the_kept_counts_match_the_table(
    service_env: dict[str, str], database: Database, tmp_path: Path, skip: list[str]
) -> None:
    host = _host()
    # COPY's text format reads \ as an escape and \N as NULL: each must reach photos as written.
    urls = [f"https://{host}/{tail}" for tail in ("a\\b.jpg", "\\N", "x\\\\N.jpg", "end\\", "\\t.jpg")]
    path = tmp_path / "photos.txt"
    path.write_text("\n".join(urls) + "\n")

    result = _import(service_env, str(path), *skip)

    assert result.returncode == 0, result.stderr
    assert _summary(result) == "imported 5, skipped 0 bad line(s), 0 already present"
    assert _photos(database, host) == {url: ["pending"] for url in urls}
    kept, counted = kept_and_counted(database)
    assert kept == counted, "the triggers counted each photo COPY'd"
    if skip:
        again = _import(service_env, str(path), *skip)
        assert _summary(again) == "imported 0, skipped 0 bad line(s), 5 already present"


def test_a_file_shows_its_progress_a_line_per_tenth(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    path = tmp_path / "photos.txt"
    path.write_text("".join(f"https://{host}/{n}.jpg\n" for n in range(100)))

    result = _import(service_env, str(path), "--batch-size", "10")

    assert result.returncode == 0, result.stderr
    # Each line but the last also says how long the rest should take, at the rate so far.
    progress = re.findall(
        r"^lines read (\d+)/100 \((\d+)%, \d+/s(?:, about [\d.]+ (?:s|min|h) left)?\)$",
        result.stderr,
        re.MULTILINE,
    )
    assert progress == [(str(n), str(n)) for n in range(10, 101, 10)]
    assert _photos(database, host).keys() == {f"https://{host}/{n}.jpg" for n in range(100)}


def test_two_skip_existing_imports_never_run_at_once(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    path = tmp_path / "photos.txt"
    path.write_text(f"https://{host}/a.jpg\n")
    other = psycopg2.connect(service_env["PG_CONNECTION_URI"])  # as another import holds it
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (SKIP_EXISTING_LOCK,))
        refused = _import(service_env, str(path), "--skip-existing")
    finally:
        other.close()

    assert refused.returncode == 5, "retryable"
    assert "another `import --skip-existing` is running on this database" in refused.stderr
    assert _photos(database, host) == {}
    assert _import(service_env, str(path), "--skip-existing").returncode == 0, "free once it ends"
    assert _photos(database, host) == {f"https://{host}/a.jpg": ["pending"]}


@pytest.mark.parametrize("skip", [[], ["--skip-existing"]])
def test_a_batch_may_take_longer_than_the_apis_statement_timeout(
    service_env: dict[str, str], database: Database, tmp_path: Path, skip: list[str]
) -> None:
    host = _host()
    urls = [f"https://{host}/{n}.jpg" for n in range(100)]
    path = tmp_path / "photos.txt"
    path.write_text("\n".join(urls) + "\n")
    short = {**service_env, "DB_STATEMENT_TIMEOUT_MS": "100"}
    # The COPY into photos waits on this lock (SHARE conflicts with its ROW EXCLUSIVE) for 10 times
    # the statement timeout, seen waiting that long, before the lock goes: a timeout would end it.
    blocker = psycopg2.connect(service_env["PG_CONNECTION_URI"])
    command = _start_import(short, str(path), *skip)
    try:
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE photos IN SHARE MODE")
            wait_until(
                lambda: command.poll() is not None or _copy_waiting_ms(database) > 1000,
                timeout=120,
                message="the COPY waiting past the timeout, or the command ended",
            )
        blocker.commit()
        stdout, stderr = command.communicate(timeout=120)
    finally:
        blocker.close()
        if command.poll() is None:
            command.kill()
            command.wait()

    assert command.returncode == 0, stderr
    assert stdout.splitlines()[-1] == "imported 100, skipped 0 bad line(s), 0 already present"
    assert _photos(database, host) == {url: ["pending"] for url in urls}


def _start_import(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The command started, as `_import` runs it, without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "service", "import", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _copy_waiting_ms(database: Database) -> float:
    """How long a COPY into photos has been waiting for a lock, in milliseconds (0: none waits)."""
    row = database.execute_sql(
        "SELECT max(extract(epoch FROM clock_timestamp() - query_start) * 1000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'COPY photos%%'"
    ).fetchone()
    return float(row[0] or 0)


def test_a_database_that_cannot_be_reached_exits_5_retryable(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "photos.txt"
    path.write_text(f"https://{_host()}/a.jpg\n")
    nowhere = {**service_env, "PG_CONNECTION_URI": "postgresql://nobody@127.0.0.1:9/none"}  # the discard port

    result = _import(nowhere, str(path))

    assert result.returncode == 5, result.stderr
    said = result.stderr.strip().splitlines()[-1]
    assert said.startswith("the database failed: ")
    assert said.endswith(
        "imported 0, skipped 0 bad line(s), 0 already present."
        " It stopped before reading a line of data: run the same command again."
    )
    assert "Traceback" not in result.stderr


def test_without_skip_existing_every_line_is_a_photo(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    url = f"https://{host}/again.jpg"
    path = tmp_path / "photos.txt"
    path.write_text(f"{url}\n{url}\n")

    result = _import(service_env, str(path))

    assert _summary(result) == "imported 2, skipped 0 bad line(s), 0 already present"
    assert _photos(database, host) == {url: ["pending", "pending"]}


def test_process_queues_exactly_the_imported_photos(
    service_env: dict[str, str], database: Database, queue: QueueProbe, tmp_path: Path
) -> None:
    host = _host()
    insert_photo(database, f"https://{host}/0.jpg")  # present: neither imported nor queued
    urls = [f"https://{host}/{n}.jpg" for n in range(23)]
    path = tmp_path / "photos.ndjson"
    path.write_text("".join(f'{{"url": "{url}"}}\n' for url in urls))

    result = _import(service_env, str(path), "--process", "--skip-existing", "--batch-size", "10")

    assert result.returncode == 0, result.stderr
    assert _summary(result) == "imported 22, skipped 0 bad line(s), 1 already present, queued 22"
    imported = {
        str(row[0])
        for row in database.execute_sql(
            "SELECT uuid FROM photos WHERE url = ANY(%s) AND url <> %s", (urls, urls[0])
        )
    }
    sent = queue.photo_ids()
    assert len(sent) == 22
    assert set(sent) == imported
    queued_at = database.execute_sql(
        "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND queued_at IS NOT NULL", (sent,)
    ).fetchone()[0]
    assert queued_at == 22


def test_past_a_hundred_bad_lines_the_rest_are_counted_and_nothing_good_exits_1(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("".join(f"not a url {n}\n" for n in range(150)))

    result = _import(service_env, str(path))

    assert result.returncode == 1
    assert _summary(result) == "imported 0, skipped 150 bad line(s), 0 already present"
    assert _bad_lines(result.stderr) == list(range(1, 101))
    assert "... and 50 more bad line(s)" in result.stderr


def test_an_unclosed_csv_quote_is_reported_with_the_lines_it_took(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    path = tmp_path / "photos.csv"
    path.write_text(f'id,url\n1,https://{host}/1.jpg\n2,"https://{host}/2.jpg\n3,https://{host}/3.jpg\n4,x\n')

    result = _import(service_env, str(path))

    assert result.returncode == 0, result.stderr
    assert _summary(result) == "imported 1, skipped 3 bad line(s), 0 already present"
    assert 'lines 3-5: a quote (") opened and never closed' in result.stderr
    assert _photos(database, host) == {f"https://{host}/1.jpg": ["pending"]}


def test_a_csv_header_without_url_is_refused_plainly(service_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "photos.csv"
    path.write_text("id,link\n1,https://example.com/a.jpg\n")

    result = _import(service_env, str(path), "--format", "csv")

    assert result.returncode == 1
    assert "line 1: the CSV header has no url column" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "said"), [("missing.txt", "No such file or directory"), (".", "Is a directory")]
)
def test_a_file_that_cannot_be_read_exits_3_with_the_reason(
    service_env: dict[str, str], tmp_path: Path, name: str, said: str
) -> None:
    path = tmp_path / name

    result = _import(service_env, str(path))

    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == f"cannot read {path}: {said}"
    assert result.stdout == ""


def test_a_broker_down_under_process_exits_4_before_importing_anything(
    service_env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    host = _host()
    urls = [f"https://{host}/{n}.jpg" for n in range(50)]
    path = tmp_path / "photos.txt"
    path.write_text("\n".join(urls) + "\n")
    nobody = {**service_env, "AMQP_URI": "amqp://guest:guest@127.0.0.1:9/%2F"}  # the discard port

    result = _import(nobody, str(path), "--process", "--batch-size", "10")

    assert result.returncode == 4
    assert "the broker cannot be reached" in result.stderr
    assert "Nothing was imported." in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _photos(database, host) == {}


def test_a_broker_failing_part_way_says_where_it_stopped_and_what_to_run(
    service_env: dict[str, str],
    services: RunServices,
    database: Database,
    queue: QueueProbe,
    actors_package: Any,
    tmp_path: Path,
) -> None:
    host = _host()
    urls = [f"https://{host}/{n:02}.jpg" for n in range(50)]
    path = tmp_path / "photos.txt"
    path.write_text("\n".join(urls) + "\n")
    # The queue takes 15 messages, then refuses (nacks) the rest, as a full queue does: the first
    # batch of 10 is queued, the second only in part (5 of 10), and the import stops there.
    actors_package.broker.declare_queue(QUEUE, ensure=True)  # a policy applies to queues that exist
    set_policy(services, FULL, f"^{QUEUE}$", '{"max-length": 15, "overflow": "reject-publish"}')
    try:
        wait_until(lambda: policy_of(services, QUEUE) == FULL, timeout=30, message="policy in effect")
        result = _import(service_env, str(path), "--process", "--batch-size", "10")
    finally:
        clear_policy(services, FULL)
        wait_until(lambda: policy_of(services, QUEUE) == "", timeout=30, message="policy gone")

    assert result.returncode == 4, result.stderr
    said = result.stderr.strip().splitlines()[-1]
    assert said.startswith("the broker failed: the broker confirmed 5 of 10 messages. ")
    assert "imported 20, skipped 0 bad line(s), 0 already present, queued 15" in said
    assert "Stopped after line 20; the lines after it were not read" in said
    assert "--skip-existing" in said
    assert "`python -m service process-pending`" in said
    assert "Traceback" not in result.stderr
    assert _photos(database, host) == {url: ["pending"] for url in urls[:20]}, "lines 21-50 not read"
    assert len(queue.photo_ids()) == 15
