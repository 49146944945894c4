"""The RabbitMQ broker and its middleware, built from the configuration."""

from __future__ import annotations

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import AgeLimit, CurrentMessage, ShutdownNotifications, TimeLimit

from actors.lanes import NEW_QUEUE
from actors.metrics import WorkerPrometheus
from actors.photo_worker import PhotoWorker
from actors.retries import PhotoRetries
from config import Config

QUEUE_NAME = NEW_QUEUE  # the seed's queue: new photos (actors/lanes.py)


def build_broker(config: Config) -> RabbitmqBroker:
    """A RabbitmqBroker with publisher confirms, our retry policy and the failure hook.

    Confirms are on for the API and the worker alike: without them a publish can vanish with
    no error, and a retry is a publish (to the delay queue) followed by an ack of the original.
    """
    return RabbitmqBroker(
        url=config.amqp_url,
        confirm_delivery=True,
        middleware=[
            AgeLimit(),
            TimeLimit(),
            ShutdownNotifications(),
            CurrentMessage(),
            # After-hooks run in reverse order: PhotoWorker must come before Retries so that
            # its after_process_message runs after Retries has decided whether the message failed.
            PhotoWorker(config),
            PhotoRetries(config),
            # Last, so that its after_process_boot (which points prometheus_client at the
            # directory the worker processes share) runs before PhotoWorker's.
            WorkerPrometheus(port=config.worker_metrics_port),
        ],
    )
