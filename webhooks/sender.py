"""One delivery: the event's JSON body, signed, POSTed to WEBHOOK_URL within WEBHOOK_TIMEOUT_S.

The receiver is reached like a photo's source: through the AddressGuard (the same SSRF rules,
ALLOW_PRIVATE_SOURCES included), never through a proxy, and never by following a redirect (a
3xx is a failure: an event goes where it was configured to go, or nowhere). WEBHOOK_TIMEOUT_S
bounds the whole request from its first socket, not each read: a socket deadline cuts a
receiver that trickles bytes or never answers (pipeline/deadline.py), and `interrupt` cuts every
delivery at once. Resolving the receiver's name comes before any socket (pipeline/netguard.py) and
is bounded only by the system resolver's timeout, as for a photo's source; a delivery that
outlasts its lease that way cannot record over the next claim (the claim token, webhooks/outbox.py).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from pipeline.deadline import Downloads
from pipeline.netguard import AddressGuard
from pipeline.rendition_json import facts_json, renditions_json
from pipeline.transport import ThreadSessions
from webhooks.outbox import Event
from webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

USER_AGENT = "photo-processor-webhooks/1"
# The start of a refusing receiver's answer kept in last_error: enough to say why.
ERROR_BODY_BYTES = 200


def event_body(event: Event, *, public_base_url: str | None = None) -> bytes:
    """The JSON an event is sent as: id, type, occurred_at, and the photo as it was then."""
    photo = event.photo
    # An event queued before renditions (schema/0011) has rows without preset or format: each
    # was the photo's one thumbnail, preset `thumb`, in the format its name says.
    rows = [
        {"preset": "thumb", "format": _legacy_format(row["url"]), "bytes": None, **row}
        for row in photo.get("thumbnails", [])
    ]
    document = {
        "id": str(event.id),
        "type": event.type,
        "occurred_at": event.occurred_at.isoformat(),
        "photo": {
            "uuid": photo["uuid"],
            "url": photo["url"],
            "status": photo["status"],
            "created_at": photo["created_at"],
            "failure_reason": photo.get("failure_reason"),
            **renditions_json(rows, public_base_url),
            **facts_json(photo.get("facts")),
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _legacy_format(url: str) -> str:
    return "webp" if url.endswith(".webp") else "jpeg"


class Failure(NamedTuple):
    """Why a delivery failed, and whether it says the receiver itself is unwell."""

    reason: str  # for last_error
    outage: bool  # no answer, a timeout, a 5xx or 429: not this event refused, the receiver away


class WebhookSender:
    """POSTs events to one URL; safe to call from several threads (a session per thread)."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout_s: float,
        allow_private: bool,
        public_base_url: str | None = None,
    ) -> None:
        self._url, self._secret, self._timeout_s = url, secret, timeout_s
        self._public_base_url = public_base_url
        self._deliveries = Downloads()
        self._sessions = ThreadSessions(
            AddressGuard(allow_private=allow_private),
            {"User-Agent": USER_AGENT},
            on_socket=self._deliveries.attach,
        )

    def send(self, event: Event) -> Failure | None:
        """Deliver `event`; None when the receiver answered 2xx, else why not."""
        body = event_body(event, public_base_url=self._public_base_url)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            EVENT_ID_HEADER: str(event.id),
        }
        watch = self._deliveries.start(self._timeout_s)
        try:
            response = self._sessions.get().post(
                self._url,
                data=body,
                headers=headers,
                timeout=self._timeout_s,
                allow_redirects=False,
                stream=True,
            )
            with response:
                status = response.status_code
                if 200 <= status < 300:
                    return None
                reason = f"HTTP {status}: {_start_of(response)}".rstrip(": ")
                return Failure(reason, outage=status >= 500 or status == 429)
        except Exception as error:  # any failure to deliver is retried; its text is the reason
            reason = f"{type(error).__name__}: {error}"
        finally:
            late = self._deliveries.finish(watch)
        if watch.interrupted:
            return Failure("interrupted: the worker stopped during the delivery", outage=False)
        return Failure(f"timeout: no answer within {self._timeout_s:g} s" if late else reason, outage=True)

    def interrupt(self) -> None:
        """Cut every delivery in flight, and any started from now on (the worker is stopping)."""
        self._deliveries.interrupt_all()

    def close(self) -> None:
        """Close the threads' connections."""
        self._sessions.close()


def _start_of(response: Any) -> str:
    """The first bytes of a refusal's body, as text on one line (empty if it cannot be read)."""
    try:
        chunk: bytes = response.raw.read(ERROR_BODY_BYTES)
    except Exception:
        return ""
    return " ".join(chunk.decode("utf-8", "replace").split())
