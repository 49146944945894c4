"""The photo pipeline: download, thumbnail, storage and the database steps around them."""
