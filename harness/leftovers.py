"""What a run of the hosts harness left behind: it must be nothing once its LAN is closed.

Everything a run makes carries its id: namespaces and interfaces are named `pp<id>-…`, the
postgres processes name it in their command line (data directory, cluster_name), every other
process we start has `PP_HOSTS_RUN=<id>` in its environment (inherited by its children, which
is how a stray grandchild is found), the bridges' threads are named after it, and so are the
/tmp directories.
"""

from __future__ import annotations

import glob
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from harness import netns

RUN_MARK = "PP_HOSTS_RUN"
TMP = tempfile.gettempdir()  # not pytest's tmp_path: postgres must enter the cluster's directory


def leftovers(run_id: str) -> list[str]:
    """Namespaces, root-namespace interfaces, processes, threads and files of run `run_id`."""
    prefix = f"pp{run_id}"
    found = [f"namespace {ns}" for ns in netns.names() if ns.startswith(f"{prefix}-")]
    found += [
        f"interface {line.split(':')[1].strip()}"
        for line in netns.ip("-o", "link", "show").splitlines()
        if run_id in line.split(":")[1]
    ]
    found += [f"process {pid}: {what}" for pid, what in _processes(prefix, run_id)]
    found += [f"thread {t.name}" for t in threading.enumerate() if t.name.startswith(prefix)]
    found += [f"file {path}" for path in files(prefix)]
    return found


def files(prefix: str) -> list[str]:
    """The run's directories in /tmp."""
    return glob.glob(f"{TMP}/{prefix}-*")


def _processes(prefix: str, run_id: str) -> Iterator[tuple[int, str]]:
    """Processes naming the run in their command line or marked in their environment."""
    mark = f"{RUN_MARK}={run_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if prefix.encode() in cmdline or mark in environ.split(b"\0"):
            yield int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
