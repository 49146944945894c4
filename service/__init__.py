"""The HTTP API (Falcon under gunicorn) and the operator's command line (`python -m service`)."""
