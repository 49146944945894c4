"""The end-to-end suite's photos: a mix of what a photo platform receives, served on 127.0.0.1.

Per 100 photos: 65 camera files from the benchmark corpus (12 MP JPEGs, some EXIF-rotated or
progressive, a few 24 MP and one 50 MP, PNGs with and without alpha, CMYK), 33 small web images
from tests/corpus (hopper, flower, an animated GIF, a CMYK JPEG, an RGBA PNG), and 2 sources
meant to fail: a 404 and an HTML page (both permanent: one attempt, no retry). The order is
shuffled with a fixed seed, so every run gets the same photos in the same order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bench import corpus
from bench.environment import Bench
from harness.imageserver import Reply

TESTS_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"

# (file, how many per 100); a name of the benchmark corpus, or of tests/corpus.
CAMERA = (
    *((f"jpeg-12mp-{i}.jpg", 12) for i in range(3)),
    *((f"jpeg-12mp-{i}-rot6.jpg", 3) for i in range(3)),
    *((f"jpeg-12mp-{i}-progressive.jpg", 4) for i in range(2)),
    *((f"jpeg-24mp-{i}.jpg", 3) for i in range(2)),
    ("jpeg-50mp-0.jpg", 1),
    *((f"png-12mp-{i}.png", 1) for i in range(2)),
    ("png-12mp-0-rgba.png", 1),
    *((f"cmyk-12mp-{i}.jpg", 1) for i in range(2)),
)
WEB = (
    ("flower.jpg", 10),
    ("hopper.jpg", 8),
    *((f"hopper_orientation_{n}.jpg", 3) for n in (3, 6, 8)),
    ("pil123rgba.png", 3),
    ("pil_sample_cmyk.jpg", 2),
    ("iss634.gif", 1),
)
FAILING = (("missing (404)", 1), ("an HTML page", 1))
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
SEED = 11


@dataclass(frozen=True)
class Kind:
    """One kind of source in the mix: what it is, and the reply the image server gives."""

    name: str
    reply: Reply
    fails: bool


def kinds() -> list[Kind]:
    """Every kind of the mix, repeated as often as it appears per 100 (the corpus made if missing)."""
    corpus.ensure(log=False, names=[name for name, _ in CAMERA])
    files = {name: corpus.CORPUS_DIR / name for name, _ in CAMERA}
    files |= {name: TESTS_CORPUS / name for name, _ in WEB}
    out = []
    for name, per_100 in (*CAMERA, *WEB):
        reply = Reply(body=files[name].read_bytes(), content_type=CONTENT_TYPES[Path(name).suffix])
        out += [Kind(name, reply, fails=False)] * per_100
    missing = Reply(status=404, body=b"not found", content_type="text/plain")
    html = Reply(body=b"<!doctype html><title>Photo</title><p>Not an image.", content_type="text/html")
    for (name, per_100), reply in zip(FAILING, (missing, html), strict=True):
        out += [Kind(name, reply, fails=True)] * per_100
    assert len(out) == 100, len(out)
    return out


def insert(bench: Bench, count: int, tag: str) -> tuple[list[str], set[str]]:
    """`count` pending photos of the mix, served under /`tag`/; their UUIDs in insertion order,
    and those of the photos meant to fail."""
    pool = kinds()
    sequence = [pool[index % len(pool)] for index in range(count)]
    random.Random(SEED).shuffle(sequence)
    urls = []
    for index, kind in enumerate(sequence):
        path = f"/{tag}/{index}{Path(kind.name).suffix or '.jpg'}"
        bench.server.serve(path, kind.reply)
        urls.append(bench.server.url(path))
    rows = bench.db.execute_sql(
        "INSERT INTO photos (url) SELECT unnest(%s::text[]) RETURNING url, uuid", (urls,)
    ).fetchall()
    by_url = {url: str(uuid) for url, uuid in rows}
    ids = [by_url[url] for url in urls]
    return ids, {by_url[url] for url, kind in zip(urls, sequence, strict=True) if kind.fails}


def describe() -> str:
    """The mix in one sentence, for the report."""
    camera = sum(n for _, n in CAMERA)
    web = sum(n for _, n in WEB)
    failing = sum(n for _, n in FAILING)
    return (
        f"per 100 photos: {camera} camera files of the benchmark corpus (53 12 MP JPEGs of which 9 "
        "EXIF-rotated and 8 progressive, 6 24 MP JPEGs, 1 50 MP JPEG, 3 12 MP PNGs of which 1 RGBA, "
        f"2 12 MP CMYK JPEGs), {web} small web images of tests/corpus (JPEGs, an RGBA PNG, a CMYK JPEG, an "
        f"animated GIF) and {failing} sources meant to fail (a 404, an HTML page), shuffled"
    )
