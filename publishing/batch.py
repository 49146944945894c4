"""A batch of messages written to RabbitMQ on a channel in confirm mode, and what the broker
said of each: acked, nacked (refused), returned (unroutable)."""

from __future__ import annotations

from typing import Any

from pika.spec import Basic


class Batch:
    """The frames of some messages and what the broker said of each: acked, nacked, returned."""

    def __init__(self, frames: bytes, message_ids: list[str]) -> None:
        self.frames = frames
        self.message_ids = message_ids
        self.first_tag = 1
        self.acked: set[int] = set()  # indexes into message_ids
        self.settled: set[int] = set()  # acked or nacked
        self.returned: set[str] = set()  # message ids the broker returned (unroutable)
        self.error: BaseException | None = None
        self._floor = 0  # every index below it is settled

    @property
    def done(self) -> bool:
        return self._floor == len(self.message_ids)

    def confirmed(self, method: Any) -> None:
        # Tag n of the batch confirms its message n - first_tag; with `multiple`, every one up to
        # it not confirmed yet. Tags before the batch's first belong to batches already settled.
        last = method.delivery_tag - self.first_tag
        if last < 0:
            return
        size = len(self.message_ids)
        for index in range(self._floor, min(last + 1, size)) if method.multiple else (last,):
            if index >= size or index in self.settled:
                continue
            self.settled.add(index)
            if isinstance(method, Basic.Ack):
                self.acked.add(index)
            else:
                self.error = self.error or RuntimeError(f"the broker refused (nack) message {index + 1}")
        while self._floor in self.settled:
            self._floor += 1

    def queued(self) -> set[int]:
        """The indexes acked and not returned: on the queue."""
        return {index for index in self.acked if self.message_ids[index] not in self.returned}
