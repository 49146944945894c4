"""The database schema: numbered SQL files and the code that applies them (migrations.py)."""
