"""The formats a thumbnail is written in: the one table of their file extensions and media types.

The thumbnail function picks the format, the store names the file by its extension, the API
serves it with its media type. Opaque thumbnails are JPEG; those with transparency are WebP.
"""

from __future__ import annotations

# Pillow's format name -> (file extension, media type).
OUTPUT_FORMATS = {
    "JPEG": (".jpg", "image/jpeg"),
    "WEBP": (".webp", "image/webp"),
}

# File extension -> media type, for the files the store holds.
MEDIA_TYPES = dict(OUTPUT_FORMATS.values())
