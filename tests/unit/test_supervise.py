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
    starts, release = tmp_path / "starts", tmp_path / "release"
    # The second run ignores SIGTERM and waits to be released, so that the supervisor is told
    # to stop while that run is alive, whatever the machine's load: its exit code, 3, must be
    # what the supervisor returns (and no third run may start).
    script = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"log = open({str(starts)!r}, 'a', buffering=1)\n"
        "log.write('started\\n')\n"
        f"while len(open({str(starts)!r}).readlines()) >= 2 and not os.path.exists({str(release)!r}):\n"
        "    time.sleep(0.02)\n"
        "raise SystemExit(3)\n"
    )
    supervisor = subprocess.Popen([sys.executable, str(SUPERVISE), sys.executable, "-c", script])
    try:
        wait_until(lambda: len(_lines(starts)) >= 2, timeout=15, message="second start")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        release.touch()
        assert supervisor.wait(timeout=10) == 3, "the exit code is the command's last"
    assert len(_lines(starts)) == 2


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
