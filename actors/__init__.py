"""The worker. Importing this package sets the Dramatiq broker, then declares the actors.

`dramatiq actors` imports it to run the worker; the API imports it to send messages through
the actor, so both speak Dramatiq's wire format. The broker must be set before any actor is
declared: `@dramatiq.actor` binds to whatever broker is current at that moment.
"""

import dramatiq

from actors.broker import build_broker
from config import load_config

broker = build_broker(load_config())
dramatiq.set_broker(broker)

from actors.photos import process_photo, rerender_photo  # noqa: E402  (after set_broker, see above)

__all__ = ["broker", "process_photo", "rerender_photo"]
