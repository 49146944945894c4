"""The Falcon application: `create_app` wires, `get_app` reads the environment (gunicorn's entry)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import falcon
import orjson
from peewee import Database

import logsetup
from api import errors
from api.auth import BearerToken
from api.demo import DEMO_DIR, DEMO_ROUTE
from api.metrics import MetricsEndpoint, RequestMetrics
from api.middleware import DatabaseSession
from api.resources.dashboard import STATIC_ROUTE, Dashboard, StaticFile
from api.resources.enqueue import EnqueuePhotos
from api.resources.health import Health
from api.resources.ingest import AddPhotos
from api.resources.openapi import OpenApiDocument
from api.resources.photos import PendingPhotos, PhotoItem, PhotoList
from api.resources.renditions import RenditionFile, Thumbs
from api.resources.stats import Stats
from api.resources.thumbnails import ThumbnailFile
from config import Config, load_config
from models import init_db
from pipeline.errors import StorageError
from pipeline.open_store import open_store
from pipeline.storage import THUMBS_ROUTE, ThumbnailStore
from publishing import Publish

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    db: Database,
    publish: Publish,
    store: ThumbnailStore | None = None,
    health_checks: dict[str, Callable[[], None]],
) -> falcon.App:
    """The API, given its collaborators: the database, a way to send photos, health checks, and
    the thumbnails' store (by default the one `config` names)."""
    middleware: list[Any] = [RequestMetrics()]
    if config.api_token:
        middleware.append(BearerToken(config.api_token))
    middleware.append(DatabaseSession(db))
    app = falcon.App(middleware=middleware)
    # Responses (errors included) serialised by orjson: the standard library's encoder was the
    # larger part of the time a page of 100 took in Python. The same JSON, without the spaces
    # after separators. Request bodies are still parsed by the standard library, whose errors
    # and leniencies (NaN, integers of any size) the validation is written against.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(dumps=orjson.dumps)
    app.req_options.strip_url_path_trailing_slash = True
    errors.register(app)
    public_base_url = config.thumbs_public_base_url
    store = store or open_store(config)
    app.add_route("/photos", PhotoList(AddPhotos(db, publish), public_base_url=public_base_url))
    app.add_route("/photos/pending", PendingPhotos())
    app.add_route("/photos/process", EnqueuePhotos(publish))
    app.add_route("/photos/{photo_id}", PhotoItem(db, store, public_base_url=public_base_url))
    app.add_route("/stats", Stats())
    # With a token set, the thumbnails are not for everyone: no shared cache may keep them.
    private = bool(config.api_token)
    # One route for the files by relpath and the renditions by photo and preset (Falcon's router
    # cannot hold {path:path} beside fixed-depth templates): Thumbs tells them apart.
    thumbnails = Thumbs(ThumbnailFile(store, private=private), RenditionFile(db, store, private=private))
    app.add_route(THUMBS_ROUTE + "/{path:path}", thumbnails)
    app.add_route("/healthz", Health(health_checks))
    app.add_route("/openapi.json", OpenApiDocument())
    app.add_route("/metrics", MetricsEndpoint())
    app.add_static_route(DEMO_ROUTE, str(DEMO_DIR))
    app.add_route("/", Dashboard())
    app.add_route(STATIC_ROUTE + "/{name}", StaticFile())
    return app


def get_app() -> falcon.App:
    """The API as gunicorn runs it: configured from the environment, sending through the actor."""
    config = load_config()
    logsetup.configure(config.log_format)
    db = init_db(config, max_connections=16)
    store = open_store(config)
    try:  # wrong credentials or a missing bucket: said at start, not only by /healthz
        store.check()
    except StorageError as error:
        log.error("Thumbnail %s unusable: %s. /thumbs answers 503 until it is.", store.description, error)
    # Imported here, not at module level: importing `actors` builds the broker from the
    # environment, which tests of create_app (and tools importing this module) do not want.
    from actors import broker, process_photo
    from actors.broker import QUEUE_NAME
    from api.checks import broker_check, database_check
    from publishing import ConfirmedPublisher

    return create_app(
        config,
        db=db,
        publish=ConfirmedPublisher(process_photo, config.amqp_url),
        store=store,
        health_checks={
            "database": functools.partial(database_check, db),
            "broker": functools.partial(broker_check, broker, QUEUE_NAME),
            # Full, read-only, unreachable, refusing us: the worker's photos wait (an outage),
            # and the API says why.
            "storage": store.check,
        },
    )
