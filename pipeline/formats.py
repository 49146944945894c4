"""The formats a rendition is written in: the one table of their names, extensions and media types.

The rendition function encodes in them, the store names each file by its extension, the rows
name the format (`photo_thumbnails.format`), and the API serves each with its media type and
negotiates among them by `Accept`. Opaque photos always have a JPEG; photos with transparency
have a PNG in its place (every client reads both; JPEG cannot hold alpha). RENDITION_FORMATS
adds WebP and AVIF, which hold alpha too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    """One format renditions are written in."""

    name: str  # as rows, URLs and RENDITION_FORMATS name it
    pillow: str  # Pillow's name for it
    extension: str  # with its dot
    media_type: str
    holds_alpha: bool


JPEG = OutputFormat("jpeg", "JPEG", ".jpg", "image/jpeg", holds_alpha=False)
PNG = OutputFormat("png", "PNG", ".png", "image/png", holds_alpha=True)
WEBP = OutputFormat("webp", "WEBP", ".webp", "image/webp", holds_alpha=True)
AVIF = OutputFormat("avif", "AVIF", ".avif", "image/avif", holds_alpha=True)

FORMATS = {fmt.name: fmt for fmt in (JPEG, PNG, WEBP, AVIF)}
# What RENDITION_FORMATS may name, beside the base format (JPEG, or PNG with transparency).
EXTRA_FORMATS = ("webp", "avif")
# Pillow's format name -> (file extension, media type).
OUTPUT_FORMATS = {fmt.pillow: (fmt.extension, fmt.media_type) for fmt in FORMATS.values()}
# File extension -> media type, for the files the store holds.
MEDIA_TYPES = dict(OUTPUT_FORMATS.values())
# File extension -> format.
BY_EXTENSION = {fmt.extension: fmt for fmt in FORMATS.values()}
