# One image for the API and the worker; docker-compose.yml runs each Procfile entry from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    THUMBS_DIR=/waldo-app-thumbs

WORKDIR /app

# Runtime dependencies only, from the pinned file (the test and lint tools stay out).
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt

COPY config.py connection_pool.py logsetup.py models.py Procfile ./
COPY actors ./actors
COPY bin ./bin
COPY demo ./demo
COPY pipeline ./pipeline
COPY publishing ./publishing
COPY schema ./schema
COPY api ./api
COPY service ./service
COPY webhooks ./webhooks

RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /waldo-app-thumbs \
    && chown app /waldo-app-thumbs
USER app

EXPOSE 3000
VOLUME ["/waldo-app-thumbs"]

# Applies the schema migrations, then runs the command (a Procfile entry, through honcho).
ENTRYPOINT ["bin/docker-entrypoint"]
CMD ["honcho", "start", "web"]
