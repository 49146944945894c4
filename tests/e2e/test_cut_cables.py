"""Cut cables (issue 21): workers on hosts of their own (harness/hosts.py), a database host with
a PostgreSQL of the test's own, and a host that vanishes without a word: its switch port goes
down, so neither end hears a FIN or a RST, and its bridges to RabbitMQ, the image server and
the webhook receiver go silent.

What a vanished worker leaves behind is ended by timers, not by anything it says:
- its database session, and with it the photo's advisory lock, by the server's keepalives and
  TCP user timeout (`DB_DEAD_PEER_S`, sent by the worker as session settings);
- its unacknowledged message, by RabbitMQ's missed heartbeats (AMQP_URI's `heartbeat`), which
  puts it back in the queue for another worker.
"""

from __future__ import annotations

import functools
import json
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest

from harness import services
from harness.hosts import Lan
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.s3server import S3Server
from harness.service_processes import REPO, ServiceProcess, worker_argv, worker_dramatiq_env
from harness.switch import Host
from harness.webhook_receiver import WebhookReceiver
from pipeline.locks import lock_key
from schema import migrations
from tests.e2e.reliability import hold, thumbnail_files
from tests.support.commands import service_command
from tests.support.data import DEFAULT_RENDITIONS
from tests.support.images import photo_bytes

SECRET = "cut-cables-secret"
DEAD_PEER_S = 6
HEARTBEAT_S = 4
# The lock is freed by kernel timers (keepalive probes, then the TCP user timeout) that end
# within DEAD_PEER_S of the cut; the margin covers the timers' rounding and this test's polling.
LOCK_MARGIN_S = 5


@dataclass
class Fleet:
    """The LAN, its database (reached by socket from here), a vhost and the root-side services."""

    lan: Lan
    dsn: str  # the database by its socket, for the test and commands in the root namespace
    env: dict[str, str]  # the settings every process shares (database and broker aside)
    amqp_uri: str
    image_server: ImageServer
    receiver: WebhookReceiver
    log_dir: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the LAN's database (autocommit); its rows, if any."""
        assert self.lan.db is not None
        return self.lan.db.sql(statement, params)

    def worker(
        self, name: str, *, bridges: dict[str, str] | None = None, **settings: str
    ) -> tuple[Host, ServiceProcess]:
        """A host `name` on the LAN running one worker (1 process x 1 thread): the database over
        the LAN, RabbitMQ, the images, the receiver and `bridges` (name: base URL) through the
        host's bridges, all made before the worker starts."""
        host = self.lan.add_host(name)
        for service, base in (
            ("amqp", self.amqp_uri),
            ("images", self.image_server.base_url),
            ("webhooks", self.receiver.url),
            *(bridges or {}).items(),
        ):
            self.lan.bridge(host, service, int(urlsplit(base).port or 0))
        env = {
            **self.env,
            **worker_dramatiq_env(threads=1),
            "PG_CONNECTION_URI": self.lan.pg_dsn(host),
            "AMQP_URI": f"{self.amqp_uri}?heartbeat={HEARTBEAT_S}",
            **settings,
        }
        process = self.lan.run(
            host, worker_argv(threads=1, supervised=False, shutdown_ms=5000), env, self.log_dir, name=name
        )
        self.processes.append(process)
        wait_until(lambda: "ready for action" in process.logs(), timeout=60, message=f"{name} ready")
        return host, process

    def root_env(self) -> dict[str, str]:
        """The settings of a command run here, in the root namespace."""
        return {**self.env, "PG_CONNECTION_URI": self.dsn, "AMQP_URI": self.amqp_uri}

    def lock_holder(self, photo_id: str) -> str | None:
        """The client address of the session holding the photo's advisory lock, if any."""
        rows = self.sql(
            "SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.objsubid = 1"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (lock_key(UUID(photo_id)),),
        )
        return str(rows[0][0]) if rows else None

    def renditions(self, photo_id: str) -> list[tuple[Any, ...]]:
        """The photo's rendition rows (uuid, preset, format, url), in order."""
        return self.sql(
            "SELECT uuid, preset, format, url FROM photo_thumbnails WHERE photo_uuid = %s ORDER BY preset, format",
            (photo_id,),
        )

    def status(self, photo_id: str) -> str:
        """The photo's status."""
        return str(self.sql("SELECT status::text FROM photos WHERE uuid = %s", (photo_id,))[0][0])

    def events(self, photo_id: str) -> list[tuple[str, str]]:
        """The photo's webhook events (id, type), in the outbox."""
        return [
            (str(event_id), kind)
            for event_id, kind in self.sql(
                "SELECT id, type FROM webhook_events WHERE photo_uuid = %s ORDER BY occurred_at", (photo_id,)
            )
        ]


def attempt_ended(worker: ServiceProcess, photo_id: str) -> bool:
    """Whether the worker logged the end of an attempt on the photo (its outcome line, or the
    line of an attempt that raised: both carry the message id)."""
    return f"photo={photo_id} message_id=" in worker.logs()


@pytest.fixture
def fleet(
    lan: Lan, service_env: dict[str, str], image_server: ImageServer, tmp_path: Path
) -> Iterator[Fleet]:
    db = lan.add_database()
    migrations.migrate({"dsn": db.socket_dsn()})
    own = services.create()  # a vhost of the test's own: no other module's messages reach it
    receiver: WebhookReceiver | None = None
    made: Fleet | None = None
    try:
        receiver = WebhookReceiver(SECRET).up()
        env = {
            **service_env,
            "THUMBS_DIR": str(tmp_path / "thumbs"),
            "DB_DEAD_PEER_S": str(DEAD_PEER_S),
            "WEBHOOK_URL": receiver.url,
            "WEBHOOK_SECRET": SECRET,
        }
        made = Fleet(lan, db.socket_dsn(), env, own.amqp_uri, image_server, receiver, tmp_path)
        yield made
    finally:
        for process in made.processes if made else []:  # before the vhost: they hold its connections
            process.stop(timeout=10)
        if receiver is not None:
            receiver.stop()
        services.drop(own)


def test_a_worker_host_that_vanishes_mid_photo_frees_its_lock_and_its_late_writes_change_nothing(
    fleet: Fleet,
) -> None:
    path = f"/vanish-{uuid.uuid4()}.jpg"
    url = fleet.image_server.image(path, photo_bytes(1200, 800, comment=uuid.uuid4().bytes))
    [(photo_id,)] = [
        (str(row[0]),) for row in fleet.sql("INSERT INTO photos (url) VALUES (%s) RETURNING uuid", (url,))
    ]
    gate = hold(fleet.image_server, path)
    # The vanishing worker would wait for its download past the cut: its late writes come when
    # the link is back, not before.
    doomed, first = fleet.worker("w1", DOWNLOAD_TIMEOUT_S="120")
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    wait_until(lambda: fleet.image_server.hits(path) >= 1, timeout=60, message="w1 downloading the photo")
    wait_until(
        lambda: fleet.lock_holder(photo_id) == doomed.address,
        timeout=30,
        message="w1 holding the photo's lock",
    )

    # The second host is up before the cut (it gets no message: w1 holds the only one), so
    # the time measured below is the lock's, not a worker's start.
    _, second = fleet.worker("w2")
    fleet.lan.cut(doomed)
    cut_at = time.monotonic()
    gate.set()  # the source answers; w1's bytes wait in its silent cable
    freed_s = wait_until(
        lambda: fleet.lock_holder(photo_id) != doomed.address and time.monotonic() - cut_at,
        timeout=DEAD_PEER_S + LOCK_MARGIN_S + 30,
        interval=0.1,
        message="the vanished session's lock freed",
    )
    assert freed_s <= DEAD_PEER_S + LOCK_MARGIN_S, f"lock freed {freed_s:.1f} s after the cut"
    print(f"lock freed {freed_s:.1f} s after the cut (DB_DEAD_PEER_S={DEAD_PEER_S})")
    wait_until(lambda: fleet.status(photo_id) == "completed", timeout=120, message="w2 completed the photo")
    done = fleet.renditions(photo_id)
    assert len(done) == DEFAULT_RENDITIONS
    thumbs = Path(fleet.env["THUMBS_DIR"])
    assert thumbnail_files(thumbs, photo_id) == sorted(thumbs / row[3] for row in done)
    [(event_id, kind)] = fleet.events(photo_id)
    assert kind == "photo.completed"
    wait_until(lambda: event_id in fleet.receiver.delivered(), timeout=60, message="the event delivered")
    assert attempt_ended(first, photo_id) is False, "w1 ended nothing while it was gone"

    # The link comes back: w1's download finishes and it tries to complete a photo it no
    # longer holds. Its attempt ends (logged), and changes nothing.
    fleet.lan.restore(doomed)
    wait_until(lambda: attempt_ended(first, photo_id), timeout=120, message="w1's late attempt ended")
    assert re.search(rf"photo={photo_id} message_id=\S+ outcome=database_unavailable", first.logs())
    assert fleet.status(photo_id) == "completed"
    assert fleet.renditions(photo_id) == done
    assert thumbnail_files(thumbs, photo_id) == sorted(thumbs / row[3] for row in done)
    assert fleet.events(photo_id) == [(event_id, "photo.completed")]
    assert set(fleet.receiver.delivered()) == {event_id}
    assert fleet.image_server.hits(path) == 2, "one download each: w1's before the cut, w2's"
    assert attempt_ended(second, photo_id)


def audit(fleet: Fleet, photo_ids: list[str]) -> None:
    """Nothing lost, stuck or doubled: every photo completed with its renditions, its files
    exactly its rows, one `photo.completed` event each, delivered."""
    thumbs = Path(fleet.env["THUMBS_DIR"])
    for photo_id in photo_ids:
        assert fleet.status(photo_id) == "completed", photo_id
        rows = fleet.renditions(photo_id)
        assert len(rows) == DEFAULT_RENDITIONS, rows
        assert thumbnail_files(thumbs, photo_id) == sorted(thumbs / row[3] for row in rows)
        assert [kind for _, kind in fleet.events(photo_id)] == ["photo.completed"], photo_id
    events = {event_id for photo_id in photo_ids for event_id, _ in fleet.events(photo_id)}
    wait_until(lambda: events <= set(fleet.receiver.delivered()), timeout=60, message="every event delivered")


def photos(fleet: Fleet, count: int, tag: str) -> list[tuple[str, str]]:
    """`count` pending photos of bytes of their own; (uuid, source path) each."""
    made = []
    for _ in range(count):
        path = f"/{tag}-{uuid.uuid4()}.jpg"
        url = fleet.image_server.image(path, photo_bytes(900, 600, comment=uuid.uuid4().bytes))
        [(photo_id,)] = fleet.sql("INSERT INTO photos (url) VALUES (%s) RETURNING uuid", (url,))
        made.append((str(photo_id), path))
    return made


def held_by(fleet: Fleet, host: Host) -> tuple[str, str, threading.Event]:
    """A photo `host`'s worker (the only one running) is downloading, held at the source, with
    its lock taken; (uuid, path, the gate that lets the download go on)."""
    [(photo_id, path)] = photos(fleet, 1, "held")
    gate = hold(fleet.image_server, path)
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    wait_until(lambda: fleet.lock_holder(photo_id) == host.address, timeout=60, message=f"{host.name} on it")
    wait_until(lambda: fleet.image_server.hits(path) >= 1, timeout=30, message=f"{host.name} downloading")
    return photo_id, path, gate


def downloading(fleet: Fleet, path: str) -> bool:
    """Whether a worker asked for the source at `path`."""
    return fleet.image_server.hits(path) >= 1


def final(fleet: Fleet, photo_ids: list[str], timeout: float) -> None:
    """Wait until every photo is completed or failed."""

    def done() -> bool:
        rows = fleet.sql(
            "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND status IN ('completed', 'failed')",
            (photo_ids,),
        )
        return int(rows[0][0]) == len(photo_ids)

    wait_until(done, timeout=timeout, interval=0.2, message="every photo final")


def test_a_worker_host_cut_off_from_the_database_only_waits_and_the_fleet_completes_everything(
    fleet: Fleet,
) -> None:
    # As docs/RELIABILITY.md says: the worker's database calls end by its own timeouts within
    # DB_DEAD_PEER_S, each an outage of ours: the photo's attempt is spared and its message
    # retried (RabbitMQ is still reachable), while the server drops the session and frees the
    # lock; the other host completes the photos meanwhile.
    cut_off, _ = fleet.worker("w1")
    photo_id, _, gate = held_by(fleet, cut_off)
    fleet.lan.partition(cut_off, "db")
    gate.set()  # the source answers: w1 goes on, to a silent database
    fleet.worker("w2")
    batch = [photo for photo, _ in photos(fleet, 6, "split-db")]
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    wait_until(lambda: fleet.lock_holder(photo_id) != cut_off.address, timeout=60, message="w1's lock freed")
    assert "failed" not in {fleet.status(photo) for photo in [photo_id, *batch]}
    # Which worker each retry reaches is RabbitMQ's choice: the verdict waits for the link.
    fleet.lan.restore(cut_off, "db")
    final(fleet, [photo_id, *batch], timeout=120)
    audit(fleet, [photo_id, *batch])
    (spared,) = fleet.sql("SELECT spared FROM photos WHERE uuid = %s", (photo_id,))[0]
    assert spared >= 1, "w1's attempt ended as an outage of ours, not the photo's"


def test_a_worker_host_cut_off_from_rabbitmq_only_completes_its_photo_once(fleet: Fleet) -> None:
    # As docs/RELIABILITY.md says: the worker finishes the photo in hand (the database is
    # reachable) but cannot acknowledge it; RabbitMQ misses its heartbeats, closes its
    # connection and gives the message to another worker, which finds the photo completed.
    cut_off, first = fleet.worker("w1")
    photo_id, path, gate = held_by(fleet, cut_off)
    fleet.lan.partition(cut_off, "amqp")
    gate.set()
    wait_until(lambda: fleet.status(photo_id) == "completed", timeout=60, message="w1 completed it")
    _, second = fleet.worker("w2")
    wait_until(
        lambda: re.search(rf"photo={photo_id} message_id=\S+ outcome=skipped_done", second.logs()),
        timeout=60,
        message="the message redelivered to w2, which finds the photo completed",
    )
    fleet.lan.restore(cut_off, "amqp")
    second.stop()  # only w1 is left: the batch shows it consumes again
    batch = [photo for photo, _ in photos(fleet, 4, "split-amqp")]
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    final(fleet, batch, timeout=120)
    audit(fleet, [photo_id, *batch])
    assert all(re.search(rf"photo={p} message_id=\S+ outcome=completed", first.logs()) for p in batch)
    assert fleet.image_server.hits(path) == 1, "downloaded once: w2 found it completed"
    assert attempt_ended(first, photo_id)


DB_OUTAGE_S = 45


def test_the_database_host_vanishing_for_45_s_under_a_batch_fails_nothing_and_leaves_no_dead_session(
    fleet: Fleet,
) -> None:
    hosts = [fleet.worker(name)[0] for name in ("w1", "w2")]
    # Two photos whose downloads are held: both workers' threads are on them when the cable
    # goes, so the outage comes mid-batch by construction, not by timing.
    held = photos(fleet, 2, "db-held")
    gates = [hold(fleet.image_server, path) for _, path in held]
    batch = [photo for photo, _ in held] + [photo for photo, _ in photos(fleet, 22, "db-gone")]
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    for _, path in held:
        wait_until(functools.partial(downloading, fleet, path), timeout=60, message=f"{path} downloading")
    database_host = fleet.lan.host("db")
    fleet.lan.cut(database_host)
    cut_at = time.monotonic()
    for gate in gates:
        gate.set()  # the downloads end; what follows them needs the database
    # The outage lasts DB_OUTAGE_S, the fault itself; meanwhile (by the socket, which is no
    # cable) no photo may fail.
    while time.monotonic() - cut_at < DB_OUTAGE_S:
        statuses = {row[0] for row in fleet.sql("SELECT DISTINCT status::text FROM photos")}
        assert "failed" not in statuses, "a photo failed while the database was gone"
        time.sleep(0.5)
    # Before the restore: no session of the LAN can begin while the database host is cut.
    restored_at = fleet.sql("SELECT now()")[0][0]
    fleet.lan.restore(database_host)
    final(fleet, batch, timeout=120)
    audit(fleet, batch)
    for photo_id, _ in held:
        [(completed_at,)] = fleet.sql("SELECT completed_at FROM photos WHERE uuid = %s", (photo_id,))
        assert completed_at > restored_at, "a photo in hand at the cut completed only once it was back"
    # Every session of the workers now is one opened after the link came back: the server
    # dropped the silent ones, and the workers' pools hold none of them.
    addresses = [host.address for host in hosts]
    stale = fleet.sql(
        "SELECT pid, host(client_addr), backend_start FROM pg_stat_activity"
        " WHERE host(client_addr) = ANY(%s) AND backend_start < %s",
        (addresses, restored_at),
    )
    assert stale == [], stale
    # And the pools work: another batch goes through.
    more = [photo for photo, _ in photos(fleet, 6, "db-back")]
    queued = service_command(fleet.root_env(), "process-pending")
    assert queued.returncode == 0, queued.stderr
    final(fleet, more, timeout=60)
    audit(fleet, more)


S3_ONE_WAY_MS = 150  # each direction: a 300 ms round trip
ARTIFACT = REPO / "test-artifacts" / "cut-cables.json"


def record(name: str, figures: dict[str, float]) -> None:
    """Keep a test's figures in test-artifacts/cut-cables.json (figures, not verdicts)."""
    found = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    found[name] = figures
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(found, indent=2, sort_keys=True))


def total_ms(worker: ServiceProcess, photo_id: str) -> float:
    """The worker's own time for the photo, from its outcome line."""
    found = re.search(
        rf"photo={photo_id} message_id=\S+ outcome=completed .*?total_ms=([\d.]+)", worker.logs()
    )
    assert found, f"no outcome line of {photo_id}"
    return float(found.group(1))


def test_a_300_ms_link_to_the_s3_server_slows_the_photos_and_they_all_complete(
    fleet: Fleet, s3_server: S3Server, bucket_env: dict[str, str]
) -> None:
    fleet.env.update(bucket_env)
    host, worker = fleet.worker("w1", bridges={"s3": s3_server.endpoint})
    timings: dict[str, list[float]] = {}
    for name, one_way_ms in (("near", 0), ("far", S3_ONE_WAY_MS)):
        fleet.lan.latency(host, "s3", one_way_ms)
        batch = [photo for photo, _ in photos(fleet, 5, f"s3-{name}")]
        queued = service_command(fleet.root_env(), "process-pending")
        assert queued.returncode == 0, queued.stderr
        final(fleet, batch, timeout=180)
        timings[name] = sorted(total_ms(worker, photo_id) for photo_id in batch)
        objects = s3_server.objects(bucket_env["THUMBS_BUCKET"])
        for photo_id in batch:
            assert fleet.status(photo_id) == "completed", photo_id
            rows = fleet.renditions(photo_id)
            assert len(rows) == DEFAULT_RENDITIONS, rows
            assert sorted(key for key in objects if photo_id in key) == sorted(r[3] for r in rows)
    near, far = statistics.median(timings["near"]), statistics.median(timings["far"])
    # Slower by construction, whatever the machine's speed: each rendition is one PUT after
    # the other, each at least a round trip.
    assert far >= DEFAULT_RENDITIONS * 2 * S3_ONE_WAY_MS, timings
    record(
        "s3_300ms_round_trip",
        {"median_photo_ms_near": near, "median_photo_ms_far": far, "slowdown": far / near},
    )
    print(f"S3 at a 300 ms round trip: median {far:.0f} ms a photo against {near:.0f} ms ({far / near:.1f}x)")
