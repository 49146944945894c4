"""Every rendition of every kind of source: the right box, upright, sRGB, alpha kept, its format,
no metadata; @2x only where the source is larger; the same bytes in any process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from PIL import Image

from pipeline.colour import DEFAULT_CMYK_PROFILE
from pipeline.presets import parse_formats, parse_renditions
from pipeline.renditions import Rendered, make_renditions
from pipeline.thumbnail import fit_within
from tests.unit.test_thumbnail_colour import PATCHES, cmyk_jpeg, patch_card, patch_colours
from tests.unit.test_thumbnail_output import private_exif
from tests.unit.thumbnail_images import (
    CORPUS,
    QUADRANTS,
    card,
    close,
    encode,
    orientation_exif,
    quadrant_colours,
    stored,
)

PRESETS = parse_renditions("lg:1280,thumb:320@2x,sm:160")
FORMATS = parse_formats("webp,avif")
MEDIA = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "avif": "AVIF"}


@pytest.fixture(scope="module", autouse=True)
def heif_codecs() -> None:
    """Let these tests read and write HEIF."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def render(data: bytes) -> Rendered:
    return make_renditions(data, PRESETS, FORMATS)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def check_boxes_and_formats(rendered: Rendered, upright: tuple[int, int], base: str) -> None:
    """Each wanted preset in the base format and both extras, each within its box, aspect kept."""
    wanted = [preset for preset in PRESETS if preset.wanted(upright)]
    made = [(r.preset, r.format.name) for r in rendered.renditions]
    assert made == [(p.name, fmt) for p in wanted for fmt in (base, *FORMATS)]
    for rendition in rendered.renditions:
        size = fit_within(upright, next(p.size for p in PRESETS if p.name == rendition.preset))
        image = opened(rendition.data)
        assert image.format == MEDIA[rendition.format.name]
        assert image.size == rendition.size == size, rendition.preset
        # No metadata: no EXIF (GPS), no XMP, no profile (the pixels are sRGB).
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info), image.info.keys()


SOURCES: dict[str, Callable[[], bytes]] = {
    "JPEG": lambda: encode(card((2000, 1500)), "JPEG", quality=95),
    "PNG": lambda: encode(card((2000, 1500)), "PNG"),
    "16-bit grey PNG": lambda: encode(
        card((800, 600)).convert("L").convert("I").point(lambda v: v * 257).convert("I;16"), "PNG"
    ),
    "WebP": lambda: encode(card((2000, 1500)), "WEBP", quality=95),
    "AVIF": lambda: encode(card((2000, 1500)), "AVIF", quality=90),
    "HEIC": lambda: encode(card((2000, 1500)), "HEIF", quality=90),
    "TIFF": lambda: encode(card((2000, 1500)), "TIFF", compression="tiff_lzw"),
    "animated GIF": lambda: encode(
        card((800, 600)), "GIF", save_all=True, append_images=[Image.new("RGB", (800, 600))]
    ),
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_every_format_gives_every_rendition_with_its_colours(make: Callable[[], bytes]) -> None:
    data = make()
    grey = opened(data).mode not in ("RGB", "P")
    rendered = render(data)

    upright = (rendered.facts.width, rendered.facts.height)
    check_boxes_and_formats(rendered, upright, "jpeg")
    assert not rendered.facts.has_alpha
    # A grey source keeps the grey values of the card's colours.
    quadrants = [Image.new("RGB", (1, 1), q).convert("L").convert("RGB").getpixel((0, 0)) for q in QUADRANTS]
    for rendition in rendered.renditions:
        colours = quadrant_colours(opened(rendition.data))
        for actual, expected in zip(colours, quadrants if grey else QUADRANTS, strict=True):
            assert close(actual, expected, 30), (rendition.preset, rendition.format.name, actual)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_rendition_is_upright_whatever_the_exif_orientation(orientation: int) -> None:
    upright = card((1600, 1000))
    data = encode(stored(upright, orientation), "JPEG", quality=95, exif=orientation_exif(orientation))

    rendered = render(data)

    assert (rendered.facts.width, rendered.facts.height) == (1600, 1000), "the size upright"
    assert rendered.facts.orientation == orientation
    check_boxes_and_formats(rendered, (1600, 1000), "jpeg")
    for rendition in rendered.renditions:
        for actual, expected in zip(quadrant_colours(opened(rendition.data)), QUADRANTS, strict=True):
            assert close(actual, expected, 30), (orientation, rendition.preset, rendition.format.name)


def test_a_cmyk_jpeg_with_its_profile_gives_srgb_colours_in_every_rendition() -> None:
    """The test's own reference: the sRGB patches the CMYK file was made from through its profile."""
    wide = patch_card().resize((1800, 300))
    data = cmyk_jpeg(DEFAULT_CMYK_PROFILE.read_bytes())
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    rendered = render(data)

    check_boxes_and_formats(rendered, (600, 100), "jpeg")
    for rendition in rendered.renditions:
        image = opened(rendition.data).convert("RGB")
        for actual, expected in zip(patch_colours(image), PATCHES, strict=True):
            assert close(actual, expected, 14), (rendition.preset, rendition.format.name, actual, expected)
    assert wide.size == (1800, 300)


def test_transparency_is_kept_in_every_format_that_holds_it_and_png_stands_in_for_jpeg() -> None:
    source = Image.new("RGBA", (1200, 800), (0, 0, 0, 0))
    source.paste(Image.new("RGBA", (600, 400), (220, 40, 40, 255)), (300, 200))

    rendered = render(encode(source, "PNG"))

    assert rendered.facts.has_alpha
    check_boxes_and_formats(rendered, (1200, 800), "png")
    for rendition in rendered.renditions:
        image = opened(rendition.data).convert("RGBA")
        width, height = image.size
        assert image.getpixel((1, 1))[3] == 0, (rendition.preset, rendition.format.name)  # type: ignore[index]
        centre = image.getpixel((width // 2, height // 2))
        assert close(centre, (220, 40, 40, 255), 12), (rendition.format.name, centre)  # type: ignore[arg-type]


def test_the_corpus_gives_every_rendition_right() -> None:
    """The real-world edge cases: rotated, CMYK, transparent, animated, small (never enlarged)."""
    expected = {
        "hopper.jpg": ((128, 128), "jpeg"),
        "hopper_orientation_6.jpg": ((128, 128), "jpeg"),
        "pil_sample_cmyk.jpg": ((100, 100), "jpeg"),
        "pil123rgba.png": ((162, 150), "png"),
        "iss634.gif": ((245, 245), "jpeg"),
        "flower.jpg": ((480, 360), "jpeg"),
    }
    for name, (upright, base) in expected.items():
        rendered = render((CORPUS / name).read_bytes())
        assert (rendered.facts.width, rendered.facts.height) == upright, name
        check_boxes_and_formats(rendered, upright, base)
        assert rendered.facts.has_alpha == (base == "png"), name
        assert len(rendered.placeholder.thumbhash) > 10
        assert rendered.placeholder.color.startswith("#")


def test_2x_is_made_only_where_the_source_is_larger_than_its_preset() -> None:
    presets = parse_renditions("thumb:320@2x")
    sizes = {}
    for side in (300, 400, 2000):
        rendered = make_renditions(encode(card((side, side)), "PNG"), presets)
        sizes[side] = [(r.preset, r.width) for r in rendered.renditions]
    assert sizes == {
        300: [("thumb", 300)],
        400: [("thumb@2x", 400), ("thumb", 320)],
        2000: [("thumb@2x", 640), ("thumb", 320)],
    }


def test_the_facts_are_the_sources_and_no_gps_reaches_them() -> None:
    exif = private_exif()
    exif.get_ifd(0x8769).update({0x9003: "2024:05:01 12:34:56", 0x9011: "+02:00"})
    data = encode(card((800, 600)), "JPEG", quality=90, exif=exif)

    rendered = render(data)

    assert rendered.facts.format == "JPEG"
    assert rendered.facts.bytes == len(data)
    assert rendered.facts.camera.taken_at == "2024-05-01T12:34:56+02:00"
    assert rendered.facts.camera.camera_model == "SECRET-CAMERA"
    assert "48" not in repr(rendered.facts), "no GPS coordinate"
    assert all(b"SECRET-CAMERA" not in r.data for r in rendered.renditions)


# Renders a source in a process of its own and prints each rendition's digest.
_RENDER_ELSEWHERE = """
import json, sys
from pipeline.presets import parse_formats, parse_renditions
from pipeline.renditions import make_renditions
rendered = make_renditions(sys.stdin.buffer.read(), parse_renditions(sys.argv[1]), parse_formats(sys.argv[2]))
print(json.dumps([[r.preset, r.format.name, r.digest] for r in rendered.renditions]))
"""


def test_the_same_source_gives_the_same_bytes_in_another_process() -> None:
    """Determinism across workers: other processes, other hash seeds, other thread counts."""
    data = (CORPUS / "flower.jpg").read_bytes()
    here = [[r.preset, r.format.name, r.digest] for r in render(data).renditions]
    elsewhere = []
    for seed, threads in (("1", "1"), ("2", "2")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": threads}
        done = subprocess.run(
            [sys.executable, "-c", _RENDER_ELSEWHERE, "lg:1280,thumb:320@2x,sm:160", "webp,avif"],
            input=data,
            capture_output=True,
            check=True,
            env=env,
            timeout=60,
        )
        elsewhere.append(json.loads(done.stdout))
    assert elsewhere == [here, here]
