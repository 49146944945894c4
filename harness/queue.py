"""Reading a queue of ours (photo-processor by default) as RabbitMQ holds it."""

from __future__ import annotations

import json

import pika
import pika.exceptions

QUEUE = "photo-processor"


class QueueProbe:
    """Reads the photo-processor queue as RabbitMQ holds it (no worker consumes in this tier)."""

    def __init__(self, url: str, queue: str = QUEUE, *, actor: str = "process_photo") -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._queue = queue
        self._actor = actor

    def purge(self) -> None:
        """Empty the queue and its delay and dead-letter queues."""
        for name in (self._queue, f"{self._queue}.DQ", f"{self._queue}.XQ"):
            try:
                self._channel.queue_purge(name)
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet
                self._channel = self._connection.channel()

    def bodies(self) -> list[bytes]:
        """Take every message off the queue (acknowledged: the test owns them) and return their bodies."""
        return [body for _properties, body in self.messages()]

    def messages(self) -> list[tuple[pika.BasicProperties, bytes]]:
        """Take every message off the queue (acknowledged) and return its properties and body."""
        messages: list[tuple[pika.BasicProperties, bytes]] = []
        while True:
            try:
                method, properties, body = self._channel.basic_get(self._queue, auto_ack=True)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code != 404:
                    raise
                self._channel = self._connection.channel()
                return messages  # never declared: nothing was ever sent
            if method is None:
                return messages
            messages.append((properties, body))

    def delete(self) -> None:
        """Delete the queue, as an operator might by hand."""
        self._channel.queue_delete(self._queue)

    def photo_ids(self) -> list[str]:
        """The photo UUIDs of the messages on the queue, checking each is Dramatiq's format."""
        ids = []
        for body in self.bodies():
            message = json.loads(body)
            assert message["queue_name"] == self._queue
            assert message["actor_name"] == self._actor
            assert message["kwargs"] == {}
            assert len(message["args"]) == 1
            ids.append(message["args"][0])
        return ids

    def depth(self) -> int:
        """Messages ready on the queue now (those delivered to a worker and not yet acknowledged,
        its prefetch, are not counted); 0 if it was never declared."""
        try:
            frame = self._channel.queue_declare(self._queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code != 404:
                raise
            self._channel = self._connection.channel()
            return 0
        return int(frame.method.message_count)

    def close(self) -> None:
        """Close the connection to RabbitMQ."""
        self._connection.close()
