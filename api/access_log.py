"""gunicorn's access log, without gathering what the log line does not show.

gunicorn's logger gathers every atom for each request before it formats the line: the time in
Apache's format, the user of a basic Authorization header, and one entry per request header,
response header and WSGI environ variable (about fifty). Our line (api/gunicorn_conf.py)
shows five atoms; gathering the rest was a tenth of the API's CPU on a small request. This
logger gathers just those five when the format names no others, as gunicorn 27's Logger.atoms
computes them; any other format is gathered by gunicorn's own code, so every format gives the
line gunicorn's logger gives.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from gunicorn import glogging

ATOM = re.compile(r"%\(([^)]*)\)")
# The atoms gathered here: remote address, request line, status, bytes sent, milliseconds.
CHEAP = frozenset({"h", "r", "s", "b", "M"})


class AccessLogger(glogging.Logger):
    """gunicorn's Logger, gathering only the atoms of the access log format, when it can."""

    def setup(self, cfg: Any) -> None:
        """Read which atoms the format names (a configuration reload runs this again)."""
        super().setup(cfg)
        self._cheap = set(ATOM.findall(cfg.access_log_format)) <= CHEAP

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        """The format's atoms, each as gunicorn computes it; all of gunicorn's for another format."""
        if not self._cheap:
            return dict(super().atoms(resp, req, environ, request_time))
        status = resp.status
        sent = getattr(resp, "sent", None)
        return {
            "h": environ.get("REMOTE_ADDR", "-"),
            "r": f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
            "s": status.split(None, 1)[0] if isinstance(status, str) else status,
            "b": str(sent) if sent is not None else "-",
            "M": request_time.seconds * 1000 + int(request_time.microseconds / 1000),
        }
