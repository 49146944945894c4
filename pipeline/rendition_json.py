"""How a photo's renditions, placeholder and facts are shown in JSON: by the API and in webhooks.

One shape for both, built from the rows (`photo_thumbnails`, `photo_facts`) as either reads
them. A client builds its `<picture>` from `srcset` (one ready string per format, `w`
descriptors, smallest first) and `base_format` (the one every client reads, for the `<img>`):

    <picture>
      <source type="image/avif" srcset="{srcset.avif}" sizes="...">
      <source type="image/webp" srcset="{srcset.webp}" sizes="...">
      <img src="{a base rendition's href}" srcset="{srcset[base_format]}" sizes="...">
    </picture>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.formats import FORMATS, PNG
from pipeline.storage import THUMBS_ROUTE

# The seed's thumbnail: the preset the API's `thumbnails` list (the seed's shape) shows.
SEED_PRESET = "thumb"
# The order formats are listed in, and the seed's `thumbnails` picks from: readable by most first.
_READABLE_FIRST = ("jpeg", "png", "webp", "avif")
FACT_FIELDS = (
    "width",
    "height",
    "format",
    "bytes",
    "has_alpha",
    "orientation",
    "taken_at",
    "camera_make",
    "camera_model",
)


def _iso(value: Any) -> Any:
    """A timestamp as ISO 8601 (the webhook's rows carry it as text already)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def rendition_json(row: Mapping[str, Any], public_base_url: str | None) -> dict[str, Any]:
    """One rendition, with `href` where the API serves it and `public_url` where a CDN does
    (THUMBS_PUBLIC_BASE_URL), if one does."""
    fmt = FORMATS.get(row["format"])
    return {
        "uuid": str(row["uuid"]) if row.get("uuid") else None,
        "preset": row["preset"],
        "format": row["format"],
        "media_type": fmt.media_type if fmt else None,
        "width": row["width"],
        "height": row["height"],
        "bytes": row.get("bytes"),
        "url": row["url"],
        "href": f"{THUMBS_ROUTE}/{row['url']}",
        "public_url": f"{public_base_url.rstrip('/')}/{row['url']}" if public_base_url else None,
        "created_at": _iso(row.get("created_at")),
    }


def renditions_json(rows: Sequence[Mapping[str, Any]], public_base_url: str | None) -> dict[str, Any]:
    """`renditions` (smallest first), `srcset` per format, `base_format`, and the seed's
    `thumbnails` (the `thumb` preset in the most widely readable format it has)."""
    order = {name: index for index, name in enumerate(_READABLE_FIRST)}
    shown = sorted(
        (rendition_json(row, public_base_url) for row in rows),
        key=lambda r: (r["width"], r["height"], r["preset"], order.get(r["format"], len(order))),
    )
    srcset: dict[str, str] = {}
    for name in sorted({r["format"] for r in shown}, key=lambda n: order.get(n, len(order))):
        widths: dict[int, str] = {}
        for r in shown:
            if r["format"] == name:
                widths.setdefault(r["width"], r["public_url"] or r["href"])  # one per width
        srcset[name] = ", ".join(f"{link} {width}w" for width, link in widths.items())
    seed = [r for r in shown if r["preset"] == SEED_PRESET]
    seed.sort(key=lambda r: order.get(r["format"], len(order)))
    base = "jpeg" if "jpeg" in srcset else PNG.name if "png" in srcset else next(iter(srcset), None)
    return {"thumbnails": seed[:1], "renditions": shown, "srcset": srcset, "base_format": base}


def facts_json(facts: Mapping[str, Any] | None) -> dict[str, Any]:
    """`facts` (the source's) and `placeholder` (a ThumbHash and the dominant colour): None
    for a photo not completed, or completed before renditions."""
    if facts is None:
        return {"facts": None, "placeholder": None}
    placeholder = None
    if facts.get("thumbhash"):
        placeholder = {"thumbhash": facts["thumbhash"], "color": facts.get("dominant_color")}
    return {"facts": {name: facts.get(name) for name in FACT_FIELDS}, "placeholder": placeholder}
