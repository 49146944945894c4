"""The `import` command's edges: the file, the progress bar, the summary and the exit code.

Exit codes: 0 when the file had a good line (imported, or already present); 1 when it had none
(empty, every line bad, a CSV header without `url`); 3 when the file cannot be read (missing, a
folder, no permission, a read error part-way); 4 when the broker failed under `--process` (down
at the start: nothing is imported; part-way: the photos imported stay pending, and
`process-pending` queues them); 5 when running it again later may succeed: another
`--skip-existing` import holds the database, or the database failed; 130 on Ctrl-C. 2 is the
command line's: a bad option or setting. Each abnormal end says what was done, and under
`--process` whether photos were left unqueued.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from contextlib import ExitStack
from typing import Any, BinaryIO, cast

import peewee
import psycopg2

from config import Config
from models import init_db
from publishing import BROKER_ERRORS, PublishInterrupted
from service.import_batches import AnotherImportRunning, ImportResult, Queue, import_urls
from service.import_formats import NoUrlColumn, records
from service.progress import ProgressBar

NOTHING_GOOD = 1
UNREADABLE = 3
BROKER_FAILED = 4
RETRY_LATER = 5  # another import holds the lock, or the database failed
INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C (128 + SIGINT)
# Bad lines printed one each; past this, only counted.
BAD_LINES_SHOWN = 100
PROCESS_PENDING = " `python -m service process-pending` queues the photos imported but not queued."


class BadLineReport:
    """Writes each bad record, `line N: problem` (`lines N-M: problem` for one over several lines),
    up to `shown`; then only counts their lines."""

    def __init__(self, stream: Any = sys.stderr, shown: int = BAD_LINES_SHOWN) -> None:
        self._stream = stream
        self._shown = shown
        self._told = 0  # records written
        self.count = 0  # bad lines
        self._hidden = 0  # bad lines not written

    def __call__(self, number: int, last: int, problem: str) -> None:
        self.count += last - number + 1
        if self._told >= self._shown:
            self._hidden += last - number + 1
            return
        self._told += 1
        where = f"line {number}" if last == number else f"lines {number}-{last}"
        self._stream.write(f"{where}: {problem}\n")

    def close(self) -> None:
        """Say how many were not shown."""
        if self._hidden:
            self._stream.write(f"... and {self._hidden} more bad line(s)\n")


def run(config: Config, path: str, *, fmt: str, skip_existing: bool, process: bool, batch_size: int) -> int:
    """Import the photos of `path` (`-`: standard input); say what was done; return the exit code."""
    name = "standard input" if path == "-" else path
    result = ImportResult()
    bad = BadLineReport()
    with ExitStack() as stack:
        try:
            stream = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
            total = _line_count(path, stream)
            bar = ProgressBar("lines read") if total is not None else None
            fmt, rows = records(stream, fmt)
            queue = _queue(config) if process else None  # the broker checked before any COPY
            print(f"reading {name} as {fmt}", file=sys.stderr)
            import_urls(
                init_db(config),
                rows,
                skip_existing=skip_existing,
                queue=queue,
                batch_size=batch_size,
                bad_line=bad,
                progress=None if bar is None else lambda done: bar(done.lines, max(total or 0, done.lines)),
                result=result,
            )
            if bar is not None and total and result.lines < total:  # blank or comment lines at the end
                bar(total, total)
        except BrokerDown as error:
            print(f"the broker cannot be reached: {error}. Nothing was imported.", file=sys.stderr)
            return BROKER_FAILED
        except OSError as error:
            bad.close()
            done = f"; {_summary(result, process)} before it" if result.lines else ""
            hint = _hint(result, process)
            print(
                f"cannot read {name}: {error.strerror or error}{done}" + (f".{hint}" if hint else ""),
                file=sys.stderr,
            )
            return UNREADABLE
        except NoUrlColumn as error:
            print(f"{name}, {error}. Nothing was imported.", file=sys.stderr)
            return NOTHING_GOOD
        except AnotherImportRunning as error:
            print(f"{error}: run this one once it is done. Nothing was imported.", file=sys.stderr)
            return RETRY_LATER
        except PublishInterrupted as error:
            bad.close()
            print(f"the broker failed: {error}. {_stopped(result, process)}", file=sys.stderr)
            return BROKER_FAILED
        except KeyboardInterrupt:
            bad.close()
            print(f"Interrupted. {_stopped(result, process)}", file=sys.stderr)
            return INTERRUPTED
        except (psycopg2.Error, peewee.DatabaseError, peewee.InterfaceError) as error:
            bad.close()
            reason = " ".join(str(error).split())  # psycopg2's messages run over lines
            ended = "" if reason.endswith((".", "?")) else "."
            print(f"the database failed: {reason}{ended} {_stopped(result, process)}", file=sys.stderr)
            return RETRY_LATER
    bad.close()
    print(_summary(result, process))
    return 0 if result.imported or result.present else NOTHING_GOOD


def _summary(result: ImportResult, process: bool) -> str:
    """The line that ends a run: what was imported, skipped, found there already (and queued)."""
    queued = f", queued {result.queued}" if process else ""
    return (
        f"imported {result.imported}, skipped {result.bad} bad line(s), "
        f"{result.present} already present{queued}"
    )


def _stopped(result: ImportResult, process: bool) -> str:
    """What a run cut short did, where it stopped, and how to finish it."""
    said = _summary(result, process) + ("; the batches committed stay." if result.imported else ".")
    if not result.lines:
        said += " It stopped before reading a line of data: run the same command again."
    elif not result.read_all:
        said += (
            f" Stopped after line {result.lines}; the lines after it were not read: the same command"
            " with --skip-existing adds the rest."
        )
    return said + _hint(result, process)


def _hint(result: ImportResult, process: bool) -> str:
    """Under --process, how to queue the photos imported but not queued (none when all were)."""
    return PROCESS_PENDING if process and result.imported > result.queued else ""


def _line_count(path: str, stream: BinaryIO) -> int | None:
    """How many lines a regular file has (a quick pass over its bytes), for the progress bar;
    None for standard input, a pipe or anything else that can be read only once."""
    if path == "-" or not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        return None
    count = 0
    last = b"\n"
    while chunk := stream.read(1 << 20):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    stream.seek(0)
    return count + (last != b"\n")


class BrokerDown(Exception):
    """Raised when the broker cannot be reached before the import starts."""


def _queue(config: Config) -> Queue:
    """Confirmed publishing of the imported photos, as `process-pending` does it, once the broker
    was reached and the queue declared: a broker down at the start imports nothing. BrokerDown
    when it cannot be."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    from actors import process_photo  # builds the broker from the environment
    from publishing import ConfirmedPublisher, send_all

    # pika logs each failed connection with its traceback; the command says it in one line.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        cast(RabbitmqBroker, process_photo.broker).declare_queue(process_photo.queue_name, ensure=True)
    except BROKER_ERRORS as error:
        raise BrokerDown(repr(error)) from error
    publisher = ConfirmedPublisher(process_photo, config.amqp_url)
    return lambda photo_ids: send_all(publisher, photo_ids)
