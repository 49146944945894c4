"""The real processes of end-to-end tests and the benchmark: gunicorn with the API, the Dramatiq worker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from config import load_config
from harness.polling import wait_until

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """A process group we start, stop gracefully, or kill, with its output kept in a file."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, *, cwd: Path = REPO
    ) -> None:
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        """Start the process in a new session (its own group), output appended to its log; return self."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        """The process id (the group id too: it leads its session)."""
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """Whether it was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """Send `signum` to the process itself (not its group)."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM to the group, then SIGKILL if it has not exited by `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        _killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group
        return self.proc.returncode

    def logs(self) -> str:
        """Everything it has written so far (empty if it never started)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# Every process the tests started and have not stopped yet, so a failing test can show their logs
# (tests/conftest.py prints them).
RUNNING: list[ServiceProcess] = []


@contextmanager
def running(process: ServiceProcess) -> Iterator[ServiceProcess]:
    """Track `process` while the block runs; stop it at the end."""
    RUNNING.append(process)
    try:
        yield process
    finally:
        process.stop()
        RUNNING.remove(process)


def _killpg(pid: int, signum: int) -> None:
    """Send `signum` to the group of `pid`, if any of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def start_api(
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    cwd: Path = REPO,
    workers: int = 1,
    threads: int = 4,
    gunicorn_args: tuple[str, ...] = (),
    name: str = "api",
) -> tuple[ServiceProcess, str]:
    """gunicorn serving the API as the Procfile runs it; returns the process and its base URL.
    `cwd`: its working directory (the code is still this checkout's); `workers`, `threads`:
    WEB_WORKERS and WEB_THREADS; `gunicorn_args`: options that override the config file's
    (`--worker-class gthread`); `name`: its log's."""
    port = port or free_port()
    config_file = str(REPO / "api/gunicorn_conf.py")
    api = ServiceProcess(
        name,
        [str(BIN / "gunicorn"), "--config", config_file, *gunicorn_args, "api.app:get_app()"],
        {
            **env,
            **_code_path(cwd),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_WORKERS": str(workers),
            "WEB_THREADS": str(threads),
        },
        log_dir,
        cwd=cwd,
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base_url}/healthz") or not api.alive(), timeout=30, message="API up")
    except Exception:
        api.stop()  # up but never healthy (a dependency down): nobody else holds it to stop it
        raise
    if not api.alive():
        raise RuntimeError(f"the API exited at start:\n{api.logs()}")
    return api, base_url


def worker_argv(
    *, processes: int = 1, threads: int = 1, supervised: bool = True, shutdown_ms: int
) -> list[str]:
    """The worker command of the Procfile, with `bin/supervise` in front unless asked not to."""
    argv = [str(BIN / "dramatiq"), "actors", "--processes", str(processes), "--threads", str(threads)]
    argv += ["--worker-shutdown-timeout", str(shutdown_ms)]
    return [str(REPO / "bin" / "supervise"), *argv] if supervised else argv


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    *,
    processes: int = 1,
    threads: int = 1,
    supervised: bool = True,
    name: str = "worker",
    cwd: Path = REPO,
) -> ServiceProcess:
    """The Dramatiq worker as the Procfile runs it, logging to `name`.log, working in `cwd`."""
    # WORKER_SHUTDOWN_MS as the worker itself reads it, passed to Dramatiq as the Procfile does.
    shutdown_ms = load_config({**os.environ, **env}).worker_shutdown_ms
    return ServiceProcess(
        name,
        worker_argv(processes=processes, threads=threads, supervised=supervised, shutdown_ms=shutdown_ms),
        {**env, **_code_path(cwd), **worker_dramatiq_env(threads=threads)},
        log_dir,
        cwd=cwd,
    ).start()


def _code_path(cwd: Path) -> dict[str, str]:
    """PYTHONPATH to this checkout for a process working elsewhere (a host of its own)."""
    return {} if cwd == REPO else {"PYTHONPATH": str(REPO)}


def worker_dramatiq_env(*, threads: int) -> dict[str, str]:
    """The variables the Procfile sets for Dramatiq itself in front of the worker command."""
    return {"dramatiq_queue_prefetch": str(threads), "dramatiq_worker_timeout": "200"}


def _answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 now."""
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
