# photo-processor. `make start` runs it, `make test` tests it; `make help` lists the rest.
# Settings come from the environment (see docs/configuration.md); nothing here repeats them.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONUNBUFFERED := 1
# The local run downloads the demo photos from this machine's own API (127.0.0.1), which the
# SSRF guard refuses unless told otherwise. Docker Compose does not set it.
export ALLOW_PRIVATE_SOURCES ?= 1

export PORT ?= 3000
CONFIG = $(PY) -c 'from config import load_config as c; print(c().$(1))'

.PHONY: help venv start s3-server db-migrate db-schema process-pending rerender import copy-thumbs psql test lint fmt \
        typecheck check bench clean docker-up docker-up-s3 docker-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP) ## create .venv and install the pinned dependencies

start: $(STAMP) db-migrate ## run the API on PORT (3000) and the worker, in the foreground (honcho)
	$(BIN)/honcho start --port $(PORT)

# A local S3-compatible server for trying THUMBS_BUCKET (docs/storage.md):
# rclone, installed by `make venv`, serving ./s3-data as S3 with the bucket "thumbs".
S3_PORT ?= 9000
S3_ACCESS_KEY ?= AKIALOCALPHOTOPROC01
S3_SECRET_KEY ?= local-photo-processor-secret-key-change-me
s3-server: $(STAMP) ## a local S3 server on 127.0.0.1:S3_PORT (9000) over ./s3-data, bucket "thumbs"
	mkdir -p s3-data/thumbs
	$(BIN)/rclone serve s3 s3-data --addr 127.0.0.1:$(S3_PORT) --config /dev/null \
		--auth-key "$(S3_ACCESS_KEY),$(S3_SECRET_KEY)"

db-migrate: $(STAMP) ## create the database if missing and upgrade it to the current schema
	$(PY) -m service migrate --create-database

db-schema: $(STAMP) ## reset the database: drop it all, recreate the schema, add the demo photos
	$(PY) -m service reset-schema

process-pending: $(STAMP) ## queue every pending photo (STATUS=failed to retry the failed ones)
	$(PY) -m service process-pending --status $(or $(STATUS),pending)

rerender: $(STAMP) ## queue the completed photos whose renditions differ from the settings (ARGS="--dry-run")
	$(PY) -m service rerender $(ARGS)

import: $(STAMP) ## add photos by URL from FILE=… (lines, CSV or NDJSON); ARGS="--skip-existing --process"
	@test -n "$(FILE)" || { echo 'usage: make import FILE=urls.txt [ARGS="--skip-existing --process"]' >&2; exit 2; }
	$(PY) -m service import $(ARGS) "$(FILE)"

copy-thumbs: $(STAMP) ## copy the thumbnails of THUMBS_DIR into THUMBS_BUCKET (idempotent, resumable)
	$(PY) -m service copy-thumbs

psql: $(STAMP) ## open psql on the configured database
	psql "$$($(call CONFIG,pg_connection_uri))"

test: $(STAMP) ## run the whole test suite against real PostgreSQL and RabbitMQ
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP) ## format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy

check: lint typecheck test ## everything CI checks

# The api suite drives the API with wrk, a Debian package, not a PyPI one: `apt-get install wrk`
# (CI does not run the benchmarks, so nothing installs it for you; the suite says so if it is missing).
bench: $(STAMP) ## measure speed and memory against libvips; writes bench/RESULTS.md (ARGS="--only thumbnail")
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(PY) -m bench $(ARGS)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

docker-up: ## build the image and start everything in Docker (API on 3000, RabbitMQ UI on 15672)
	mkdir -p waldo-app-thumbs
	UID=$$(id -u) GID=$$(id -g) docker compose up --build --detach
	@echo "API: http://localhost:3000/   RabbitMQ: http://localhost:15672/ (guest/guest)"

docker-up-s3: ## the same, with thumbnails in a bucket of a local S3 server (docker-compose.s3.yml)
	UID=$$(id -u) GID=$$(id -g) docker compose -f docker-compose.yml -f docker-compose.s3.yml up --build --detach
	@echo "API: http://localhost:3000/   thumbnails: bucket thumbs of the s3 service"

docker-down: ## stop the Docker services (the volumes are kept)
	docker compose down
