"""The dependency checks behind GET /healthz."""

from __future__ import annotations

import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from peewee import Database


def database_check(db: Database) -> None:
    """One round trip to PostgreSQL."""
    db.execute_sql("SELECT 1").fetchone()


def broker_check(broker: RabbitmqBroker, queue_name: str) -> None:
    """One round trip to RabbitMQ on this thread's publishing connection.

    The queues are declared if this broker never did (the worker may not have started yet),
    then a passive declare proves the connection answers. On failure the connection is
    dropped, so the next request connects afresh once RabbitMQ is back.
    """
    try:
        broker.declare_queue(queue_name, ensure=True)
        broker.channel.queue_declare(queue=queue_name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:  # deleted behind our back: declare it again next time
            broker.queues_pending.add(queue_name)
        del broker.connection
        raise
    except Exception:
        del broker.connection
        raise
