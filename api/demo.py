"""Demo photos: rows pointing at images the API itself serves at /demo/, for a machine offline."""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from config import Config

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo" / "images"
DEMO_ROUTE = "/demo"

DEMO_FILES = (
    "dusk-landscape.jpg",
    "night-portrait.jpg",
    "flower.jpg",
    "hopper.jpg",
    "hopper_orientation_6.jpg",
    "pil_sample_cmyk.jpg",
    "pil123rgba.png",
    "iss634.gif",
    "not-an-image.html",  # served with status 200: fails as not an image
    "missing.jpg",  # does not exist: the source answers 404
)


def demo_base_url(config: Config) -> str:
    """Where the worker can download the demo files: this machine's API."""
    host = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host  # noqa: S104
    return f"http://{host}:{config.port}{DEMO_ROUTE}/"


def load_demo_photos(db: Database, base_url: str) -> int:
    """Insert one pending photo per demo file; return how many were inserted."""
    with db.atomic():
        for name in DEMO_FILES:
            db.execute_sql("INSERT INTO photos (url) VALUES (%s)", (base_url + name,))
    return len(DEMO_FILES)
