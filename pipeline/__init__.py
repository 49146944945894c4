"""The photo pipeline: download, thumbnail, storage and the database steps around them.

Open pipeline/processor.py first (`PhotoProcessor.process`, one photo's steps in order): claims.py
(the worker's database steps) → fetch.py (the download) → thumbnail.py (the pure image work) →
storage.py (the store's interface; open_store.py picks the backend) → claims.py again. errors.py
is the one error hierarchy, saying what is transient and what is permanent.
"""
