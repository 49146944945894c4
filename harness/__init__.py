"""Real services for the tests and the benchmark: a database and vhost of the run's own, an image
server, the API and worker processes as the Procfile runs them, /proc, the queue, and polling;
and decode bombs with a probe of the thumbnail's peak memory.

Dev-only: the image never copies it. It imports nothing from `tests` or `bench`, so both can use it.
"""
