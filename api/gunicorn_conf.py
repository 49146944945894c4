"""gunicorn settings for the API, from config.py (HOST, PORT, WEB_WORKERS, WEB_THREADS, LOG_FORMAT)."""

import os
import shutil
import tempfile
from typing import Any

from config import load_config

# A bad value stops gunicorn here, before any worker starts, with the ConfigError naming it.
# Not named `config`: gunicorn takes each module-level name that is one of its settings, and
# `config` (the -c option) is one.
_service = load_config()
bind = f"{_service.host}:{_service.port}"
# gthread: peewee, psycopg2 and pika's BlockingConnection all block; each thread holds its own
# database and broker connection. 2 processes x 4 threads suits a small JSON API on 2 cores.
# Ours reads each request whole in the event loop, so that slow clients cannot hold the threads.
worker_class = "api.http_worker.RequestBufferingWorker"
workers = _service.web_workers
threads = _service.web_threads
# pika connections are not fork-safe: each worker process must build its own app.
preload_app = False
# gunicorn 27 opens one control socket path per user by default; several instances (tests, a
# second checkout) on one machine would fight over it.
control_socket_disable = True
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn's logger, gathering only the atoms this format shows (api/access_log.py).
logger_class = "api.access_log.AccessLogger"
if _service.log_format == "json":
    # gunicorn's own loggers (errors, access) as JSON lines too, through the app's formatter.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "logsetup.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
timeout = 60
graceful_timeout = 10


def on_starting(server: object) -> None:
    """Give the worker processes one metrics directory, fresh for this run (before they start).

    prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, at import, in each worker; /metrics
    then adds up what every worker wrote there.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="photo-processor-web-metrics-"
    )
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def child_exit(server: object, worker: Any) -> None:
    """Drop a dead worker's live gauges from the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server: object, worker: Any) -> None:
    """Close the worker's kept broker connections politely, rather than leaving RabbitMQ to
    find them gone (an error in its log for each)."""
    from publishing.upkeep import PROCESS_UPKEEP

    PROCESS_UPKEEP.close_all()
