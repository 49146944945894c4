"""Finding the processes below one we started, from /proc: the Dramatiq master and its workers.

`bin/supervise` runs `dramatiq actors …` (the master), which forks its worker processes (same
command line). Under honcho a shell sits in between. Only live processes count: a zombie
(exited, not yet reaped) is gone for every purpose of the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of `pid`, or None when it does not exist."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """The process's arguments ([] if it is gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children(pid: int) -> list[int]:
    """The live direct children of `pid`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, parents before their children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop(0)):
            found.append(child)
            todo.append(child)
    return found


def _is_dramatiq(pid: int) -> bool:
    """Whether `pid` runs dramatiq (directly, or as the script python runs)."""
    return any(Path(arg).name == "dramatiq" for arg in cmdline(pid)[:2])


def dramatiq_master(root: int) -> int | None:
    """The Dramatiq master at or below `root` (a dramatiq process whose parent is not one)."""
    for pid in [root, *descendants(root)]:
        stat = _stat(pid)
        if _is_dramatiq(pid) and stat is not None and not _is_dramatiq(stat[1]):
            return pid
    return None


def dramatiq_workers(root: int) -> list[int]:
    """The Dramatiq worker processes below `root`: the children of the master."""
    master = dramatiq_master(root)
    if master is None:
        return []
    return [pid for pid in children(master) if _is_dramatiq(pid)]


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(f"no VmHWM for {pid}")


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of `pids` still alive (processes a test started and must not leave behind)."""
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
