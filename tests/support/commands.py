"""`python -m service …` run as an operator runs it: a process of its own, in the checkout."""

from __future__ import annotations

import subprocess
import sys

from harness.service_processes import REPO


def service_command(
    env: dict[str, str], *args: str, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m service ARGS` with `env` only (and a plain PATH); its output captured, `stdin`
    (if any) its standard input."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
