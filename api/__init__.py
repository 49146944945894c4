"""The HTTP API: Falcon under gunicorn.

Open api/app.py first: `create_app` wires the resources (api/resources/, one module per route
family) and the middleware; `get_app` is gunicorn's entry, reading the environment. Around
them: api/gunicorn_conf.py (gunicorn's settings) and api/http_worker.py (its worker, which reads
each request whole before a thread takes it), api/validation.py and api/errors.py (what a
request may be, and the JSON error shape), api/representations.py (what a photo looks like).
"""
