"""Network namespaces for the hosts harness: made and removed with `ip netns`, entered per thread.

A socket belongs to the namespace it was created in, whichever thread uses it later, so
`call_in(ns, fn)` runs `fn` in a fresh thread that has entered `ns` (setns(2) changes only the
calling thread) and gives back what it returned: a listening socket, a psycopg2 connection.
The thread ends right after, so no thread of this process is ever left in the wrong namespace
and nothing has to switch back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """Raised when an `ip` command or entering a namespace fails."""


def ip(*args: str) -> str:
    """Run `ip args…`; return its output, or raise NetnsError with its message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def add(ns: str) -> None:
    """Make the namespace `ns` with its loopback up (nothing else in it)."""
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")


def names() -> list[str]:
    """The namespaces `ip netns list` shows."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def remove(ns: str) -> None:
    """Kill whatever still runs in `ns`, then delete it (its interfaces go with it)."""
    # A process left inside would keep the namespace, and its veth ends, alive after `del`.
    for pid in ip("netns", "pids", ns).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    ip("netns", "del", ns)


def enter(ns: str) -> None:
    """Move the calling thread into `ns` (Python 3.11 has no os.setns)."""
    fd = os.open(f"{NETNS_DIR}/{ns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(f"setns into {ns}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in(ns: str, fn: Callable[[], T], *, thread_name: str = "netns-call") -> T:
    """Run `fn` in a new thread inside `ns`; return its result or raise its error."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            enter(ns)
            outcome.append(fn())
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
