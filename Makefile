# BillingEngine: `make run` serves the admin and the API on SQLite; `make test` runs the linters and the
# suite (on PostgreSQL when DATABASE_URL points there).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test setup migrate lint format serve-prod clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# A local .env with a random SECRET_KEY and DEBUG on; real deployments set the environment instead.
.env:
	@printf 'DEBUG=true\nSECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote .env (DEBUG=true, a random SECRET_KEY) for local use."

setup: $(VENV)/.installed .env

migrate: setup
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py ensure_admin
	@echo "Admin: http://$(HOST):$(PORT)/admin/   API: http://$(HOST):$(PORT)/api/v1/   Docs: http://$(HOST):$(PORT)/api/docs"
	$(PY) manage.py runserver $(HOST):$(PORT)

# The linters first (fail fast), then the suite.
test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# As in production: DEBUG off, static files collected and served by WhiteNoise, gunicorn.
serve-prod: migrate
	DEBUG=false $(PY) manage.py collectstatic --noinput -v0
	DEBUG=false $(VENV)/bin/gunicorn billingengine.wsgi --bind $(HOST):$(PORT) --workers 3

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# Performance: the API against a plain-Django baseline at 1,000,000 customers (docs/performance.md).
# Needs PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432) and wrk; BENCH_ARGS passes options.
BENCH_ARGS ?=
.PHONY: bench
bench: setup
	@command -v wrk >/dev/null || { echo "Installing wrk (apt-get install wrk)"; apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/api_vs_baseline.py $(BENCH_ARGS)
