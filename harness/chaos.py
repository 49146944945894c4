"""The chaos soak (issue 21): photos through a fleet on a LAN of its own while faults come one
after another, then an audit of what came out.

The fleet: a database host (a private PostgreSQL), WORKER_HOSTS worker hosts (each a supervised
worker, 1 process x 2 threads), two API processes (in this namespace: they reach the database by
its socket), a bucket store (an S3 server of the soak's own), webhooks to a receiver of its own,
and a vhost of its own. A client posts the photos to the APIs in batches, taking the other API
when one does not answer; a share of the sources answer 404 and are meant to fail.

Faults, one every `fault_every` seconds, in rounds: each round every kind once, in an order
drawn with the soak's seed (so a short soak of 8 faults has had each kind):
- worker_kill: SIGKILL of one host's Dramatiq worker process (bin/supervise starts another);
- host_vanish: a worker host's switch port down for `host_gone_s`, then back;
- api_kill: SIGKILL of one API (gunicorn's master), started again;
- rabbitmq_restart: RabbitMQ closes every connection of the vhost, as a restart does;
- postgres_restart: the database host's PostgreSQL stopped (fast shutdown) and started again;
- s3_down: the S3 server stopped for `s3_down_s`;
- receiver_down: the webhook receiver refusing connections for `receiver_down_s`;
- partition: a worker host cut off from the database for `host_gone_s`.

The audit (harness/chaos_audit.py) follows, once every photo is final and the queues are empty.
"""

from __future__ import annotations

import functools
import io
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import requests
from PIL import Image, ImageDraw

from harness import proc_tree, services
from harness.chaos_audit import SoakReport, audit
from harness.hosts import Lan
from harness.imageserver import ImageServer
from harness.polling import wait_until
from harness.s3server import S3Server
from harness.service_processes import ServiceProcess, start_api, worker_argv, worker_dramatiq_env
from harness.switch import Host
from harness.webhook_receiver import WebhookReceiver
from schema import migrations

FAULTS = (
    "worker_kill",
    "host_vanish",
    "api_kill",
    "rabbitmq_restart",
    "postgres_restart",
    "s3_down",
    "receiver_down",
    "partition",
)
WORKER_HOSTS = 3
SECRET = "chaos-secret"  # noqa: S105 (the receiver of a test, not a credential)
DEAD_PEER_S = 6
HEARTBEAT_S = 3  # RabbitMQ drops a vanished host's connection in ~6-9 s, within host_gone_s


@dataclass
class SoakPlan:
    """What a soak does: how many photos, how often a fault, which, how long the outages."""

    photos: int = 300
    failing_share: float = 0.02
    fault_every: tuple[float, float] = (10.0, 10.0)
    faults: tuple[str, ...] = FAULTS
    host_gone_s: float = 12.0  # a vanished host's, and a partition's, length
    s3_down_s: float = 20.0
    receiver_down_s: float = 60.0
    post_batch: int = 20
    post_every_s: float = 1.0
    # The last batch waits until this many faults have begun: a soak ends after them, however
    # fast the photos went.
    min_faults: int = 0
    seed: int = 21
    timeout_s: float = 600.0


class Soak:
    """The fleet of one soak; `run()` drives it and returns the audit."""

    def __init__(
        self, lan: Lan, base_env: dict[str, str], image_server: ImageServer, log_dir: Path, plan: SoakPlan
    ) -> None:
        self.lan, self.image_server, self.log_dir, self.plan = lan, image_server, log_dir, plan
        self.base_env = base_env
        # Two draws of the seed: the faults' order does not depend on how the client's went.
        self.random = random.Random(plan.seed)  # noqa: S311 (which API, which photo fails: no secret)
        self.fault_random = random.Random(plan.seed + 1)  # noqa: S311 (which fault when)
        self.own: services.RunServices | None = None
        self.s3: S3Server | None = None
        self.receiver: WebhookReceiver | None = None
        self.env: dict[str, str] = {}
        self.bucket = ""
        self.injected = 0
        self.fault_errors: list[str] = []
        self.hosts: list[Host] = []
        self.workers: list[ServiceProcess] = []
        self.apis: list[tuple[ServiceProcess, str] | None] = [None, None]
        self.meant: dict[str, str] = {}

    # --- the fleet ------------------------------------------------------------------------

    def start(self) -> None:
        """The vhost, the S3 server, the receiver, the database, the worker hosts and the two
        APIs; `stop` ends whichever of them began, should one fail."""
        self.own = services.create()
        self.s3 = S3Server(self.log_dir / "s3-data", self.log_dir, name="chaos-s3").start()
        self.receiver = WebhookReceiver(SECRET).up()
        self.db = self.lan.add_database()
        migrations.migrate({"dsn": self.db.socket_dsn()})
        self.bucket = self.s3.new_bucket("chaos")
        # The audit compares rows' urls with the bucket's keys: no prefix between them.
        assert not base_env_prefix(self.base_env), "the soak's bucket takes no THUMBS_PREFIX"
        self.env = {
            **self.base_env,
            **self.s3.env,
            "THUMBS_BUCKET": self.bucket,
            "DB_DEAD_PEER_S": str(DEAD_PEER_S),
            "WEBHOOK_URL": self.receiver.url,
            "WEBHOOK_SECRET": SECRET,
            "LOG_FORMAT": "text",
        }
        for index in range(WORKER_HOSTS):
            host = self.lan.add_host(f"w{index + 1}")
            for service, base in (
                ("amqp", self.amqp_uri),
                ("images", self.image_server.base_url),
                ("webhooks", self.env["WEBHOOK_URL"]),
                ("s3", self.env["AWS_ENDPOINT_URL"]),
            ):
                self.lan.bridge(host, service, int(urlsplit(base).port or 0))
            env = {
                **self.env,
                **worker_dramatiq_env(threads=2),
                "PG_CONNECTION_URI": self.lan.pg_dsn(host),
                "AMQP_URI": f"{self.amqp_uri}?heartbeat={HEARTBEAT_S}",
            }
            argv = worker_argv(threads=2, supervised=True, shutdown_ms=5000)
            worker = self.lan.run(host, argv, env, self.log_dir, name=f"worker-w{index + 1}")
            self.hosts.append(host)
            self.workers.append(worker)
        for worker in self.workers:
            wait_until(functools.partial(_ready, worker), timeout=60, message=f"{worker.name} ready")
        for index in range(2):
            self._start_api(index)

    @property
    def amqp_uri(self) -> str:
        assert self.own is not None, "start() makes the vhost"
        return self.own.amqp_uri

    def _start_api(self, index: int) -> None:
        env = {**self.env, "PG_CONNECTION_URI": self.db.socket_dsn(), "AMQP_URI": self.amqp_uri}
        self.apis[index] = start_api(env, self.log_dir, name=f"api-{index + 1}")

    def stop(self) -> None:
        """Everything the soak started, each step tried even if one before failed (the LAN's
        own close does the rest)."""
        steps: list[tuple[str, Callable[[], object]]] = [
            *((api[0].name, functools.partial(api[0].stop, timeout=10)) for api in self.apis if api),
            *((worker.name, functools.partial(worker.stop, timeout=10)) for worker in self.workers),
        ]
        if self.receiver is not None:
            steps.append(("receiver", self.receiver.stop))
        if self.s3 is not None:
            steps.append(("s3", self.s3.stop))
        if self.own is not None:
            steps.append(("vhost", functools.partial(services.drop, self.own)))
        errors = []
        for name, step in steps:
            try:
                step()
            except Exception as error:
                errors.append(f"{name}: {error!r}")
        if errors:
            raise RuntimeError("the soak's teardown failed: " + "; ".join(errors))

    # --- the run --------------------------------------------------------------------------

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.db.sql(statement, params)

    def insert_photos(self) -> list[str]:
        """The soak's photos, each source of bytes of its own; a share meant to fail (404)."""
        data = self.image_server_source()
        urls, meant = [], []
        for index in range(self.plan.photos):
            failing = self.random.random() < self.plan.failing_share
            path = f"/chaos-{self.plan.seed}-{index}.jpg"
            if not failing:
                self.image_server.image(path, data + f"\0{path}".encode())
            urls.append(self.image_server.url(path))
            meant.append("failed" if failing else "completed")
        rows = self.sql("INSERT INTO photos (url) SELECT unnest(%s::text[]) RETURNING uuid", (urls,))
        ids = [str(row[0]) for row in rows]
        self.meant = dict(zip(ids, meant, strict=True))
        return ids

    @staticmethod
    def image_server_source() -> bytes:
        """A camera-shaped JPEG (1600 x 1200, a gradient with a shape); each photo's source is
        it plus bytes of its own after the end marker."""
        image = Image.linear_gradient("L").resize((1600, 1200)).convert("RGB")
        ImageDraw.Draw(image).ellipse([400, 300, 800, 600], fill="red")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        return out.getvalue()

    def post(self, ids: list[str]) -> None:
        """Send the ids to an API, the other one when it does not answer, until one takes them."""
        deadline = time.monotonic() + 120
        index = self.random.randrange(2)
        while True:
            api = self.apis[index]
            if api is not None:
                try:
                    answer = requests.post(f"{api[1]}/photos/process", json=ids, timeout=15)
                    if answer.status_code == 202:
                        return
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError("no API took a batch for 120 s")
            index = 1 - index
            time.sleep(0.2)  # a client's pause between tries, not a wait for a condition

    def run(self) -> SoakReport:
        """Post every photo while faults come, wait until all are final, audit."""
        report = SoakReport()
        started = time.monotonic()
        ids = self.insert_photos()
        stop_faults = threading.Event()
        injector = threading.Thread(
            target=self._faults, args=(stop_faults, report), name=f"{self.lan.prefix}-faults", daemon=True
        )
        injector.start()
        try:
            batches = [
                ids[start : start + self.plan.post_batch]
                for start in range(0, len(ids), self.plan.post_batch)
            ]
            for batch in batches[:-1]:
                self.post(batch)
                time.sleep(self.plan.post_every_s)  # the client's pace
            wait_until(
                lambda: self.injected >= self.plan.min_faults,
                timeout=self.plan.timeout_s,
                interval=0.2,
                message=f"{self.plan.min_faults} faults begun",
            )
            self.post(batches[-1])
            wait_until(
                lambda: self._final(ids) == len(ids),
                timeout=self.plan.timeout_s,
                interval=0.5,
                message="every soak photo final",
            )
        finally:
            stop_faults.set()
            injector.join(timeout=120)
        if injector.is_alive():
            raise RuntimeError("a fault did not end within 120 s")
        if self.fault_errors:
            raise RuntimeError("faults that could not be made or undone: " + "; ".join(self.fault_errors))
        self._heal()
        # Every copy of every message handled: a redelivery still in flight could complete a
        # photo a second time after the audit's look.
        queues = ("photo-processor", "photo-processor.DQ")
        own = self.own
        assert own is not None
        wait_until(
            lambda: services.messages_in(own, *queues) == 0,
            timeout=self.plan.timeout_s,
            interval=1,
            message="the soak's queues empty",
        )
        report.seconds = time.monotonic() - started
        assert self.s3 is not None
        assert self.receiver is not None
        receiver = self.receiver
        audit(
            ids,
            report,
            sql=self.sql,
            meant=self.meant,
            worker_logs=[worker.logs() for worker in self.workers],
            stored={key for key in self.s3.objects(self.bucket) if not key.startswith("originals/")},
            delivered=lambda: set(receiver.delivered()),
        )
        return report

    def _final(self, ids: list[str]) -> int:
        """How many of `ids` are final; -1 while the database is down (a fault of the soak's own:
        the look waits for it like the fleet does)."""
        try:
            rows = self.sql(
                "SELECT count(*) FROM photos WHERE uuid = ANY(%s::uuid[]) AND status IN ('completed', 'failed')",
                (ids,),
            )
        except psycopg2.OperationalError:
            return -1
        return int(rows[0][0])

    # --- faults ---------------------------------------------------------------------------

    def _faults(self, stop: threading.Event, report: SoakReport) -> None:
        """One fault at a time, every `fault_every` seconds, until told to stop."""
        round_: list[str] = []
        while not stop.wait(self.fault_random.uniform(*self.plan.fault_every)):
            if not round_:
                round_ = self.fault_random.sample(self.plan.faults, len(self.plan.faults))
            kind = round_.pop()
            try:
                made = getattr(self, f"_fault_{kind}")()
            except Exception as error:  # the soak stops; the audit must not pass without it
                self.fault_errors.append(f"{kind}: {error!r}")
                return
            if made is not False:
                report.faults[kind] = report.faults.get(kind, 0) + 1
                self.injected += 1

    def _fault_worker_kill(self) -> bool:
        """False when the chosen host's worker process is between lives (not counted)."""
        worker = self.fault_random.choice(self.workers)
        pids = proc_tree.dramatiq_workers(worker.pid)
        proc_tree.kill_all(pids)
        return bool(pids)

    def _fault_host_vanish(self) -> None:
        host = self.fault_random.choice(self.hosts)
        self.lan.cut(host)
        self._wait(self.plan.host_gone_s)
        self.lan.restore(host)

    def _fault_api_kill(self) -> None:
        index = self.fault_random.randrange(2)
        api = self.apis[index]
        self.apis[index] = None
        if api is not None:
            api[0].signal(signal.SIGKILL)  # the master, with no warning
            api[0].stop(timeout=10)  # and the workers it left
        self._start_api(index)

    def _fault_rabbitmq_restart(self) -> None:
        assert self.own is not None
        services.close_connections(self.own)

    def _fault_postgres_restart(self) -> None:
        self.db.stop()
        self.db.start()

    def _fault_s3_down(self) -> None:
        assert self.s3 is not None
        self.s3.stop()
        self._wait(self.plan.s3_down_s)
        self.s3.start()

    def _fault_receiver_down(self) -> None:
        assert self.receiver is not None
        self.receiver.down()
        self._wait(self.plan.receiver_down_s)
        self.receiver.up()

    def _fault_partition(self) -> None:
        host = self.fault_random.choice(self.hosts)
        self.lan.partition(host, "db")
        self._wait(self.plan.host_gone_s)
        self.lan.restore(host, "db")

    @staticmethod
    def _wait(seconds: float) -> None:
        """How long an outage lasts: the fault itself, not a wait for a condition."""
        time.sleep(seconds)

    def _heal(self) -> None:
        """Every cable back (each fault undoes itself before the next; this is the guard)."""
        for host in self.hosts:
            self.lan.restore(host)


def base_env_prefix(env: dict[str, str]) -> str:
    return env.get("THUMBS_PREFIX", "")


def _ready(worker: ServiceProcess) -> bool:
    return "ready for action" in worker.logs()


def run_soak(
    lan: Lan, base_env: dict[str, str], image_server: ImageServer, log_dir: Path, plan: SoakPlan
) -> SoakReport:
    """A soak from start to audit; its fleet stopped at the end, whatever happened."""
    soak = Soak(lan, base_env, image_server, log_dir, plan)
    try:
        soak.start()
        return soak.run()
    finally:
        soak.stop()
