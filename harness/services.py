"""The PostgreSQL database and RabbitMQ vhost of one run (tests or benchmark), made at its start and
dropped at its end.

Each run gets its own database and vhost (named after the process id and a random suffix), so
a leftover row or message can neither fail nor pass a test. A service that is not running makes
the run fail with an error naming it: tests are never skipped for want of a service.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from urllib.parse import quote

import pika
import psycopg2
from psycopg2 import sql
from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT

PG_ADMIN_URI = os.environ.get("TEST_PG_ADMIN_URI", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_HOST = os.environ.get("TEST_AMQP_HOST", "127.0.0.1:5672")
AMQP_USER = "guest"


class ServiceUnavailable(RuntimeError):
    """Raised when PostgreSQL or RabbitMQ is not there for the run."""


@dataclass(frozen=True)
class RunServices:
    """The names and URLs of one run's database and vhost (not "Test…": pytest would try to collect it)."""

    database: str
    vhost: str

    @property
    def pg_uri(self) -> str:
        """The run's database URL."""
        return f"postgresql://postgres@127.0.0.1:5432/{self.database}"

    @property
    def amqp_uri(self) -> str:
        """The run's vhost URL."""
        return f"amqp://{AMQP_USER}:guest@{AMQP_HOST}/{quote(self.vhost, safe='')}"


def create() -> RunServices:
    """Create this run's database and vhost."""
    name = f"pp_test_{os.getpid()}_{secrets.token_hex(3)}"
    services = RunServices(database=name, vhost=name)
    admin_sql(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, AMQP_USER, ".*", ".*", ".*")
    _check_amqp(services.amqp_uri)
    return services


def drop(services: RunServices) -> None:
    """Drop this run's database and vhost."""
    admin_sql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(services.database)))
    _rabbitmqctl("delete_vhost", services.vhost)


def admin_sql(statement: sql.Composable) -> None:
    """Run one statement as the PostgreSQL admin, outside a transaction (CREATE/DROP DATABASE need that)."""
    try:
        conn = psycopg2.connect(PG_ADMIN_URI, connect_timeout=5)
    except psycopg2.OperationalError as error:
        raise ServiceUnavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URI}: {error}") from error
    try:
        conn.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def messages_in(services: RunServices, *queues: str) -> int:
    """How many messages `queues` of the run's vhost hold: ready, and delivered but not acknowledged."""
    listing = _rabbitmqctl("list_queues", "-p", services.vhost, "--no-table-headers", "name", "messages")
    counts = dict(line.split("\t") for line in listing.splitlines() if "\t" in line)
    return sum(int(counts.get(queue, 0)) for queue in queues)


def consumers_of(services: RunServices, queue: str) -> int:
    """How many consumers `queue` of the run's vhost has now (a worker process consuming is one)."""
    listing = _rabbitmqctl("list_queues", "-p", services.vhost, "--no-table-headers", "name", "consumers")
    counts = dict(line.split("\t") for line in listing.splitlines() if "\t" in line)
    return int(counts.get(queue, 0))


def close_connections(services: RunServices) -> None:
    """Have RabbitMQ close every client connection to the run's vhost (as a restart would)."""
    _rabbitmqctl("close_all_connections", "--vhost", services.vhost, "closed by a test")


def running_connections(services: RunServices) -> int:
    """How many client connections to the run's vhost are running: not being closed by the
    broker (which waits up to 30 s for a client's answer before it lets a closed one go)."""
    listing = _rabbitmqctl("list_connections", "--no-table-headers", "vhost", "state")
    return sum(1 for line in listing.splitlines() if line.split("\t") == [services.vhost, "running"])


def set_policy(services: RunServices, name: str, pattern: str, definition: str) -> None:
    """Apply a RabbitMQ policy to the queues of the run's vhost whose names match `pattern`."""
    _rabbitmqctl("set_policy", "-p", services.vhost, "--apply-to", "queues", name, pattern, definition)


def clear_policy(services: RunServices, name: str) -> None:
    """Remove the policy `name` from the run's vhost."""
    _rabbitmqctl("clear_policy", "-p", services.vhost, name)


def policy_of(services: RunServices, queue: str) -> str:
    """The policy in effect on `queue` of the run's vhost ("" for none)."""
    listing = _rabbitmqctl("list_queues", "-p", services.vhost, "--no-table-headers", "name", "policy")
    for line in listing.splitlines():
        name, _, policy = line.partition("\t")
        if name == queue:
            return policy.strip()
    return ""


def _rabbitmqctl(*args: str) -> str:
    """Run `rabbitmqctl -q` with `args` and return its output; a failure says RabbitMQ is not there."""
    try:
        done = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        raise ServiceUnavailable(f"rabbitmqctl {' '.join(args)} failed: {error} {detail.decode()}") from error
    return done.stdout.decode()


def _check_amqp(url: str) -> None:
    """Open and close a connection to `url`: a RabbitMQ we cannot reach fails the run at its start."""
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as error:
        raise ServiceUnavailable(f"RabbitMQ is not reachable at {url}: {error!r}") from error
