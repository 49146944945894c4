"""gunicorn settings for the API, from the environment (HOST, PORT, WEB_WORKERS, WEB_THREADS)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '3000')}"
# gthread: peewee, psycopg2 and pika's BlockingConnection all block; each thread holds its own
# database and broker connection. 2 processes x 4 threads suits a small JSON API on 2 cores.
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# pika connections are not fork-safe: each worker process must build its own app.
preload_app = False
# gunicorn 27 opens one control socket path per user by default; several instances (tests, a
# second checkout) on one machine would fight over it.
control_socket_disable = True
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
timeout = 60
graceful_timeout = 10
