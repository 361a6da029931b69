# Device Portal: `make run` for a local portal with demo data, `make test` for every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
GEOIP_TEST_DB := $(abspath tests/data/geoip/GeoLite2-City-Test.mmdb)

# Development settings: SQLite under instance/, the embedded development IdP, demo data.
DEV_ENV := PORTAL_ENV=development \
	PORTAL_OIDC_ISSUER=http://127.0.0.1:9400 \
	PORTAL_OIDC_CLIENT_ID=device-portal-dev \
	PORTAL_OIDC_CLIENT_SECRET=dev-secret \
	PORTAL_GROUP_PERMISSIONS='{"portal-admins": ["viewUserDevices", "manageUserDevices", "viewAuditLog"], "helpdesk": ["viewUserDevices"]}' \
	PORTAL_GEOIP_DATABASE=$(GEOIP_TEST_DB)

.PHONY: run config-doc test test-sqlite test-postgresql lint format bench install test-deps clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(DEV_ENV) $(BIN)/flask --app wsgi db upgrade
	$(DEV_ENV) $(BIN)/flask --app wsgi portal demo-data
	$(DEV_ENV) $(BIN)/python scripts/dev.py

# docs/configuration.md from the settings object (tests/platform/test_config_doc.py checks it is current).
config-doc: install
	$(BIN)/python -m scripts.config_doc > docs/configuration.md

test-deps: install
	bash scripts/install-test-deps.sh

# Everything on SQLite (browser tests included), then everything but the browser on PostgreSQL.
test: test-deps lint
	$(BIN)/pytest
	PORTAL_TEST_DATABASE=postgresql $(BIN)/pytest -m "not e2e"

test-sqlite: test-deps
	$(BIN)/pytest

test-postgresql: test-deps
	PORTAL_TEST_DATABASE=postgresql $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portal

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# gunicorn + wrk on 100,003 users (built once into instance/bench/); installs wrk when missing.
# make bench BENCH_ARGS="--postgres" or "--users 1000 --duration 5"; see docs/performance.md.
bench: install
	$(BIN)/python -m scripts.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache tests/idp/node_modules
