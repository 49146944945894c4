"""The operator's command line: `python -m service <command>`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from playhouse.db_url import parse as parse_db_url

import logsetup
from api import demo
from config import Config, ConfigError, load_config
from models import init_db
from publishing import PublishInterrupted
from schema import migrations
from service import process_pending, rerender
from service.progress import ProgressBar

log = logging.getLogger("service.cli")

IMPORT_FORMATS = ("auto", "lines", "csv", "ndjson")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="upgrade the database to the current schema")
    migrate.add_argument("--create-database", action="store_true", help="create the database if missing")
    commands.add_parser("reset-schema", help="drop everything, recreate the schema, load the demo photos")
    load = commands.add_parser("load-demo", help="add the demo photos as pending rows")
    load.add_argument("--base-url", help="where the worker downloads them (default: this API's /demo/)")
    commands.add_parser("reconcile", help="queue again the photos stranded in 'processing' (see LEASE_S)")
    bulk = commands.add_parser("process-pending", help="queue every pending photo (or every failed one)")
    bulk.add_argument(
        "--status", choices=("pending", "failed"), default="pending", help="which photos to queue"
    )
    bulk.add_argument("--batch-size", type=int, default=process_pending.BATCH_SIZE, help="rows read per page")
    bulk.add_argument(
        "--skip-queued-within",
        type=int,
        metavar="SECONDS",
        help="leave photos whose message was confirmed this recently (default: LEASE_S; 0 queues all)",
    )
    again = commands.add_parser(
        "rerender", help="queue the completed photos whose renditions differ from the current settings"
    )
    again.add_argument("--preset", help="only photos lacking a rendition of this preset (one just added)")
    again.add_argument("--since", type=_timestamp, help="only photos created at or after this ISO 8601 time")
    again.add_argument("--limit", type=_positive, help="queue at most this many")
    again.add_argument("--dry-run", action="store_true", help="count the photos it would queue; queue none")
    again.add_argument(
        "--retry-failed", action="store_true", help="photos whose re-render to these settings failed, too"
    )
    again.add_argument(
        "--skip-queued-within",
        type=int,
        metavar="SECONDS",
        default=rerender.SKIP_QUEUED_WITHIN_S,
        help="leave photos queued for these settings this recently (default: a day; 0 queues all)",
    )
    again.add_argument("--batch-size", type=_positive, default=rerender.BATCH_SIZE, help="rows per page")
    copy = commands.add_parser("copy-thumbs", help="copy the thumbnails of THUMBS_DIR into THUMBS_BUCKET")
    copy.add_argument("--threads", type=int, default=8, help="puts at once (default: 8)")
    add = commands.add_parser("import", help="add photos by URL from a file (lines, CSV or NDJSON)")
    add.add_argument("file", metavar="FILE", help="the file to read; - reads standard input")
    # import_formats.FORMATS (the import's modules load only when it runs: tests/unit checks they agree)
    add.add_argument(
        "--format", choices=IMPORT_FORMATS, default="auto", help="the file's format (default: auto)"
    )
    add.add_argument("--skip-existing", action="store_true", help="leave out URLs already in photos")
    add.add_argument("--process", action="store_true", help="queue the imported photos too")
    add.add_argument("--batch-size", type=_positive, help="URLs per COPY and commit (default: 100,000)")
    args = parser.parse_args(argv)

    try:
        config = load_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logsetup.configure(config.log_format)
    handler = {
        "migrate": _migrate,
        "reset-schema": _reset_schema,
        "load-demo": _load_demo,
        "reconcile": _reconcile,
        "process-pending": _process_pending,
        "rerender": _rerender,
        "copy-thumbs": _copy_thumbs,
        "import": _import,
    }[args.command]
    return handler(config, args)


def _schema_options(config: Config) -> dict:
    # Schema changes run without the API's statement timeout: an index build may take longer.
    return parse_db_url(config.pg_connection_uri)


def _migrate(config: Config, args: argparse.Namespace) -> int:
    options = _schema_options(config)
    if args.create_database:
        migrations.ensure_database(options)
    applied = migrations.migrate(options)
    print(f"schema is current ({len(applied)} migration(s) applied now)")
    return 0


def _reset_schema(config: Config, args: argparse.Namespace) -> int:
    options = _schema_options(config)
    migrations.ensure_database(options)
    migrations.drop_schema(options)
    migrations.migrate(options)
    count = demo.load_demo_photos(init_db(config), demo.demo_base_url(config))
    print(f"schema reset; {count} demo photos pending")
    return 0


def _load_demo(config: Config, args: argparse.Namespace) -> int:
    base_url = args.base_url or demo.demo_base_url(config)
    count = demo.load_demo_photos(init_db(config), base_url)
    print(f"{count} demo photos pending, served from {base_url}")
    return 0


def _reconcile(config: Config, args: argparse.Namespace) -> int:
    from actors import process_photo  # builds the broker from the environment
    from pipeline.reconcile import reconcile_once

    found = reconcile_once(init_db(config), process_photo.send, lease_s=config.lease_s)
    print(f"{len(found)} stranded photo(s) queued again")
    return 0


def _process_pending(config: Config, args: argparse.Namespace) -> int:
    from actors import process_photo  # builds the broker from the environment
    from publishing import ConfirmedPublisher

    init_db(config)
    publisher = ConfirmedPublisher(process_photo, config.amqp_url)
    try:
        sent = process_pending.queue_by_status(
            publisher,
            status=args.status,
            skip_queued_within_s=config.lease_s
            if args.skip_queued_within is None
            else args.skip_queued_within,
            batch_size=args.batch_size,
            progress=ProgressBar(f"queued ({args.status})"),
        )
    except PublishInterrupted as interrupted:
        print(f"the broker failed: {interrupted}. Run the command again.", file=sys.stderr)
        return 1
    except process_pending.DatabaseStopped as stopped:
        print(f"{stopped}; {stopped.sent} photo(s) queued before it. Run the command again.", file=sys.stderr)
        return 1
    except process_pending.DATABASE_ERRORS as error:  # before the first page (counting)
        print(f"{process_pending.DatabaseStopped(0, error)}. Run the command again.", file=sys.stderr)
        return 1
    finally:
        publisher.close()
    print(f"{sent} {args.status} photo(s) queued")
    return 0


def _rerender(config: Config, args: argparse.Namespace) -> int:
    from pipeline.render_settings import RenderSettings

    settings = RenderSettings.from_config(config)
    names = [preset.name for preset in settings.presets]
    if args.preset is not None and args.preset not in names:
        print(f"--preset {args.preset!r} is not in RENDITIONS ({', '.join(names)})", file=sys.stderr)
        return 2
    selection = rerender.Selection(
        fingerprint=settings.fingerprint,
        formats=1 + len(settings.formats),
        preset=args.preset,
        since=args.since,
        limit=args.limit,
        retry_failed=args.retry_failed,
        skip_queued_within_s=args.skip_queued_within,
    )
    db = init_db(config)
    if args.dry_run:
        try:
            found = rerender.count(db, selection)
        except rerender.DATABASE_ERRORS as error:
            print(f"the database failed: {error}", file=sys.stderr)
            return 1
        print(f"{found} photo(s) to re-render (settings {settings.fingerprint})")
        return 0
    from actors import rerender_photo  # builds the broker from the environment
    from publishing import ConfirmedPublisher

    publisher = ConfirmedPublisher(rerender_photo, config.amqp_url)
    try:
        queued = rerender.queue_stale(
            db, publisher, selection, batch_size=args.batch_size, progress=ProgressBar("queued (rerender)")
        )
    except PublishInterrupted as interrupted:
        print(f"the broker failed: {interrupted}. Run the command again.", file=sys.stderr)
        return 1
    except rerender.DatabaseStopped as stopped:
        print(
            f"{stopped}; {stopped.queued} photo(s) queued before it. Run the command again.", file=sys.stderr
        )
        return 1
    except rerender.DATABASE_ERRORS as error:  # counting, before the first page
        print(f"the database failed: {error}. Run the command again.", file=sys.stderr)
        return 1
    finally:
        publisher.close()
    print(f"{queued} photo(s) queued for re-rendering (settings {settings.fingerprint})")
    return 0


def _copy_thumbs(config: Config, args: argparse.Namespace) -> int:
    from service import copy_thumbs  # boto3 loads only where a bucket is used

    return copy_thumbs.run(config, threads=args.threads)


def _import(config: Config, args: argparse.Namespace) -> int:
    from service import import_urls
    from service.import_batches import BATCH_SIZE

    return import_urls.run(
        config,
        args.file,
        fmt=args.format,
        skip_existing=args.skip_existing,
        process=args.process,
        batch_size=args.batch_size or BATCH_SIZE,
    )


def _timestamp(text: str) -> datetime:
    """An argparse type: an ISO 8601 time, UTC when it names no time zone."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
