"""The operator's commands: `python -m service <command>` (service/cli.py, open it first).

Each command with more to it than a few lines has a module named after it: process_pending.py,
import_urls.py (with import_formats.py and import_batches.py), copy_thumbs.py; migrate,
reset-schema, load-demo and reconcile are short enough to live in cli.py. progress.py is their
progress bar.
"""
