"""The commands' progress: a bar on a terminal, a line at every tenth elsewhere (a log, a pipe)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """A one-line bar on a terminal; on anything else, a line at every tenth."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._stream = stream
        self._started = time.monotonic()
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        rate = done / max(time.monotonic() - self._started, 1e-6)
        text = f"{self._label} {done}/{total} ({fraction:.0%}, {rate:.0f}/s{_eta(total - done, rate)})"
        if self._stream.isatty():
            filled = int(fraction * 30)
            self._stream.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {text}")
            if done >= total:
                self._stream.write("\n")
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self._stream.write(text + "\n")
        self._stream.flush()


def _eta(remaining: int, rate: float) -> str:
    """', about 3 min left' while there is something left at a known rate."""
    if remaining <= 0 or rate <= 0:
        return ""
    seconds = remaining / rate
    if seconds < 90:
        return f", about {seconds:.0f} s left"
    if seconds < 90 * 60:
        return f", about {seconds / 60:.0f} min left"
    return f", about {seconds / 3600:.1f} h left"
