"""bin/supervise: starts its command again when it exits, passes SIGTERM on, and then stops."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from harness.polling import wait_until

SUPERVISE = Path(__file__).resolve().parents[2] / "bin" / "supervise"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_command_that_exits_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    script = f"open({str(starts)!r}, 'a').write('started\\n'); raise SystemExit(3)"
    supervisor = subprocess.Popen([sys.executable, str(SUPERVISE), sys.executable, "-c", script])
    try:
        wait_until(lambda: len(_lines(starts)) >= 2, timeout=15, message="second start")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 3, "the exit code is the command's last"


def test_sigterm_is_passed_to_the_command_which_is_not_started_again(tmp_path: Path) -> None:
    events = tmp_path / "events"
    script = (
        "import signal, sys, time\n"
        f"log = open({str(events)!r}, 'a', buffering=1)\n"
        "log.write('started\\n')\n"
        "signal.signal(signal.SIGTERM, lambda *a: (log.write('terminated\\n'), sys.exit(0)))\n"
        "while True: time.sleep(0.05)\n"
    )
    supervisor = subprocess.Popen([sys.executable, str(SUPERVISE), sys.executable, "-c", script])
    wait_until(lambda: _lines(events) == ["started"], timeout=10, message="command started")
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=10) == 0
    assert _lines(events) == ["started", "terminated"]
