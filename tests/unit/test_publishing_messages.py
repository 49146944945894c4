"""A batch's messages are those `process_photo.send` builds: the same fields, the same bytes from
Dramatiq's encoder, decodable by the worker; and every middleware enqueue hook that does
something hears each message, as it does for a send."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from publishing.messages import BatchMessages, message_ids

PHOTO_IDS = [str(uuid.uuid4()) for _ in range(50)]


class _Recording(Middleware):
    """Records the enqueue hooks it hears; optionally adds an option before the publish."""

    def __init__(self, add_option: bool = False) -> None:
        self.heard: list[tuple[str, str]] = []
        self._add_option = add_option

    def before_enqueue(self, broker: Any, message: dramatiq.Message, delay: Any) -> None:
        self.heard.append(("before", message.message_id))
        if self._add_option:
            message.options["traced"] = True

    def after_enqueue(self, broker: Any, message: dramatiq.Message, delay: Any) -> None:
        self.heard.append(("after", message.message_id))


class _Failing(Middleware):
    def after_enqueue(self, broker: Any, message: dramatiq.Message, delay: Any) -> None:
        raise RuntimeError("a hook that fails")


def _actor(*middleware: Middleware) -> dramatiq.Actor:
    broker = StubBroker(middleware=list(middleware))

    @dramatiq.actor(broker=broker, queue_name="photo-processor", actor_name="process_photo")
    def process_photo(photo_id: str) -> None:
        """The actor's shape, as actors/photos.py declares it."""

    return process_photo


def test_messages_are_those_dramatiqs_constructor_makes() -> None:
    for message in BatchMessages(_actor()).build(PHOTO_IDS):
        made = dramatiq.Message(**message.asdict())
        assert message == made
        assert vars(message) == vars(made)
        assert hash(message.args) == hash(made.args)
        with pytest.raises(AttributeError):  # still frozen
            message.args = ()  # type: ignore[misc]


def test_messages_carry_what_send_would() -> None:
    actor = _actor()
    messages = BatchMessages(actor).build(PHOTO_IDS)
    sent = actor.message(PHOTO_IDS[0])
    assert [m.args for m in messages] == [(photo_id,) for photo_id in PHOTO_IDS]
    for message in messages:
        assert (message.queue_name, message.actor_name) == (sent.queue_name, sent.actor_name)
        assert (message.kwargs, message.options) == (sent.kwargs, sent.options)
        assert abs(message.message_timestamp - sent.message_timestamp) < 5_000
    assert len({m.message_id for m in messages}) == len(messages)


def test_message_ids_are_random_uuid4_strings() -> None:
    ids = message_ids(2000)
    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text  # the canonical form str(uuid.uuid4()) gives


def test_bodies_are_the_bytes_dramatiq_encodes() -> None:
    batch = BatchMessages(_actor())
    for message in batch.build(PHOTO_IDS):
        body = batch.encode(message)
        assert body == message.encode()
        assert dramatiq.Message.decode(body) == message


@pytest.mark.parametrize(
    "args",
    [("ABCDEF00-0000-4000-8000-000000000000",), ('a"quote',), (7,), ("x", "y")],
    ids=["upper-case", "needs-escaping", "not-a-string", "two-args"],
)
def test_a_message_outside_the_template_is_encoded_by_dramatiq(args: tuple[Any, ...]) -> None:
    batch = BatchMessages(_actor())
    message = batch.build([PHOTO_IDS[0]])[0]
    odd = dramatiq.Message(
        queue_name=message.queue_name,
        actor_name=message.actor_name,
        args=args,
        kwargs={},
        options={},
        message_id=message.message_id,
        message_timestamp=message.message_timestamp,
    )
    assert batch.encode(odd) == odd.encode()


def test_each_overriding_hook_hears_each_message_in_dramatiqs_order() -> None:
    first, second = _Recording(), _Recording()
    batch = BatchMessages(_actor(first, second))
    messages = batch.build(PHOTO_IDS[:3])
    batch.before_enqueue(messages)
    batch.after_enqueue(messages)
    expected = [("before", m.message_id) for m in messages] + [("after", m.message_id) for m in messages]
    assert first.heard == expected
    assert second.heard == expected


def test_an_option_a_hook_adds_goes_into_the_body() -> None:
    batch = BatchMessages(_actor(_Recording(add_option=True)))
    message = batch.build([PHOTO_IDS[0]])[0]
    batch.before_enqueue([message])
    body = batch.encode(message)
    assert body == message.encode()
    assert dramatiq.Message.decode(body).options == {"traced": True}


def test_a_failing_after_hook_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    recording = _Recording()
    batch = BatchMessages(_actor(recording, _Failing()))
    messages = batch.build(PHOTO_IDS[:2])
    batch.after_enqueue(messages)
    assert recording.heard == [("after", m.message_id) for m in messages]
    assert "Unexpected failure in after_enqueue" in caplog.text
