"""What comes out: progressive JPEG at the asked quality, no metadata, the right box, faithful pixels."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from pipeline.thumbnail import Thumbnail, dct_scale, fit_within, make_thumbnail, thumbnail_image
from tests.unit.thumbnail_images import CORPUS, SRGB_PRIMARIES, decode, encode, photo_like, psnr, rgb_profile

GPS_IFD = 0x8825
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
IPTC = b"\xff\xed\x00\x1ePhotoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x00"


def private_exif() -> Image.Exif:
    """EXIF with a camera model and a GPS position, as phones write it."""
    exif = Image.Exif()
    exif[0x0110] = "SECRET-CAMERA"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 8.0)})
    return exif


def test_an_opaque_photo_gives_a_progressive_jpeg_at_the_quality_asked() -> None:
    """Progressive JPEG whose quantisation tables are those of the requested quality."""
    source = photo_like((800, 600), 3)

    for quality in (85, 60):
        thumbnail = make_thumbnail(encode(source, "JPEG", quality=95), quality=quality)
        image = decode(thumbnail.data)
        reference = decode(encode(image, "JPEG", quality=quality))
        assert image.format == "JPEG"
        assert image.info.get("progressive") or image.info.get("progression")
        assert image.quantization == reference.quantization  # type: ignore[attr-defined]


@pytest.mark.parametrize("with_profile", [True, False], ids=["with an ICC profile", "without"])
def test_no_exif_gps_xmp_iptc_comment_or_profile_is_carried_over_into_a_jpeg(with_profile: bool) -> None:
    """A privacy matter: none of the source's metadata reaches the thumbnail."""
    profile = rgb_profile(SRGB_PRIMARIES, 2.2, "SECRET-PROFILE") if with_profile else None
    data = encode(
        photo_like((800, 600), 4),
        "JPEG",
        quality=90,
        exif=private_exif(),
        xmp=XMP,
        comment=b"SECRET-COMMENT",
        icc_profile=profile,
        extra=IPTC,
    )
    assert all(
        marker in data for marker in (b"SECRET-CAMERA", b"xmpmeta", b"Photoshop 3.0", b"SECRET-COMMENT")
    )

    out = make_thumbnail(data).data

    for marker in (b"Exif", b"SECRET", b"xmpmeta", b"Photoshop", b"8BIM", b"ICC_PROFILE", b"\xff\xfe"):
        assert marker not in out, marker
    assert set(decode(out).info) <= {
        "jfif",
        "jfif_version",
        "jfif_unit",
        "jfif_density",
        "progressive",
        "progression",
    }


def test_no_metadata_is_carried_over_into_a_webp() -> None:
    """The same for thumbnails with transparency: no EXIF, XMP or ICC chunk."""
    source = photo_like((400, 300), 5).convert("RGBA")
    source.putalpha(Image.linear_gradient("L").resize((400, 300)))
    data = encode(
        source, "PNG", exif=private_exif(), icc_profile=rgb_profile(SRGB_PRIMARIES, 2.2, "SECRET-PROFILE")
    )

    thumbnail = make_thumbnail(data)

    assert thumbnail.format == "WEBP"
    for chunk in (b"EXIF", b"XMP ", b"ICCP", b"SECRET"):
        assert chunk not in thumbnail.data, chunk


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (320, 240)),
        ((3000, 4000), (240, 320)),
        ((5000, 100), (320, 6)),
        ((100, 5000), (6, 320)),
        ((10000, 10), (320, 1)),
        ((321, 100), (320, 100)),
        ((320, 320), (320, 320)),
        ((128, 128), (128, 128)),
        ((1, 1), (1, 1)),
    ],
)
def test_the_thumbnail_fits_the_box_keeps_the_aspect_and_is_never_enlarged(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    """THUMB_MAX bounds the larger side; the other follows the aspect ratio, with at least 1 px."""
    thumbnail = make_thumbnail(encode(Image.new("RGB", size, (10, 130, 200)), "JPEG"))

    assert (thumbnail.width, thumbnail.height) == decode(thumbnail.data).size == expected


def test_the_box_is_the_one_given() -> None:
    """max_size=100 gives at most 100 px, from JPEG (reduced decoding) and PNG alike."""
    for fmt in ("JPEG", "PNG"):
        thumbnail = make_thumbnail(encode(photo_like((900, 600), 6), fmt), max_size=100)
        assert (thumbnail.width, thumbnail.height) == (100, 67)


def test_the_corpus_photo_with_exif_gives_320_by_240_without_it() -> None:
    """flower.jpg: 480x360 with EXIF gives 320x240 without."""
    thumbnail = make_thumbnail((CORPUS / "flower.jpg").read_bytes())

    assert (thumbnail.width, thumbnail.height) == (320, 240)
    assert b"Exif" not in thumbnail.data


def test_the_thumbnail_reports_its_format_size_and_timings() -> None:
    """The fields the worker logs and stores describe the encoded file."""
    thumbnail = make_thumbnail(encode(photo_like((640, 480), 7), "PNG"))

    assert isinstance(thumbnail, Thumbnail)
    assert (thumbnail.format, thumbnail.extension, thumbnail.media_type) == ("JPEG", ".jpg", "image/jpeg")
    assert (thumbnail.width, thumbnail.height) == decode(thumbnail.data).size
    assert thumbnail.decode_s > 0
    assert thumbnail.encode_s > 0


@pytest.fixture(scope="module")
def twelve_megapixel_jpegs() -> list[bytes]:
    """Two 4000x3000 photo-like JPEGs at quality 90."""
    return [encode(photo_like((4000, 3000), seed), "JPEG", quality=90) for seed in (11, 12)]


def test_jpeg_thumbnails_are_within_44_db_of_a_full_decode_and_lanczos(
    twelve_megapixel_jpegs: list[bytes],
) -> None:
    """Reduced DCT decoding costs no visible fidelity: PSNR >= 44 dB against the slow, exact path."""
    for data in twelve_megapixel_jpegs:
        assert dct_scale((4000, 3000), (320, 240)) == 8
        thumbnail = thumbnail_image(data)
        full = Image.open(io.BytesIO(data)).convert("RGB")
        reference = full.resize(thumbnail.size, Image.Resampling.LANCZOS)

        assert thumbnail.size == (320, 240)
        assert psnr(thumbnail, reference) >= 44


@pytest.mark.parametrize(("size", "scale"), [((1200, 900), 1), ((1700, 1275), 2), ((2000, 1500), 4)])
def test_each_dct_scale_stays_within_44_db_of_a_full_decode(size: tuple[int, int], scale: int) -> None:
    """Smaller JPEGs decode at 1/2, 1/4 or full scale, each keeping the margin its fidelity needs."""
    data = encode(photo_like(size, 13), "JPEG", quality=90)
    assert dct_scale(size, fit_within(size, 320)) == scale

    thumbnail = thumbnail_image(data)

    reference = decode(data).convert("RGB").resize(thumbnail.size, Image.Resampling.LANCZOS)
    assert psnr(thumbnail, reference) >= 44


def test_threads_can_thumbnail_at_the_same_time() -> None:
    """Several threads at once give the same bytes as one thread alone (shared caches are safe)."""
    profile = rgb_profile(SRGB_PRIMARIES, 2.3, "a profile shared by threads")
    sources = [
        encode(photo_like((1200, 900), seed), "JPEG", quality=90, icc_profile=profile) for seed in range(4)
    ]
    sources += [
        (CORPUS / name).read_bytes() for name in ("pil_sample_cmyk.jpg", "pil123rgba.png", "iss634.gif")
    ]
    alone = [make_thumbnail(data).data for data in sources]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda data: make_thumbnail(data).data, sources * 3))

    assert together == alone * 3


def test_importing_the_module_changes_no_global_state() -> None:
    """Import alone neither registers HEIF nor touches Pillow's pixel limit; the first call does."""
    script = (
        "from PIL import Image; default = Image.MAX_IMAGE_PIXELS\n"
        "import pipeline.thumbnail as t\n"
        "assert Image.MAX_IMAGE_PIXELS == default and 'HEIF' not in Image.OPEN\n"
        "t.make_thumbnail(open('tests/corpus/hopper.jpg', 'rb').read())\n"
        "assert Image.MAX_IMAGE_PIXELS is None and 'HEIF' in Image.OPEN\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=CORPUS.parent.parent)
