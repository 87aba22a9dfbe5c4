# Two commands: `make up` runs the whole local stack, `make test` runs the whole suite.
# Everything is installed by these rules from PyPI (uv is bootstrapped into .tools/ with pip).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: up test lint typecheck compile schema bench clean fuzz histories faults peer-fides

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# The environment is exactly what uv.lock says (--frozen fails rather than re-resolving).
# Bytecode is compiled at install, as a production image would: Temporal's workflow sandbox
# re-imports workflow modules for every workflow run, and without .pyc files (this machine
# sets PYTHONDONTWRITEBYTECODE) it would recompile them from source each time.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra dev --compile-bytecode --python $(PYTHON)
	touch $@

PACKAGES := schemas policy orchestrator workflows connectors sandbox devstack
compile: $(VENV)/.synced
	@$(VENV)/bin/python -m compileall -q $(PACKAGES)

up: compile $(S3RVER)
	$(VENV)/bin/dsr up

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy $(PACKAGES)

# The dashboard's browser tests drive Debian's Chromium through Playwright (never
# `playwright install`: it downloads a browser build, which fails here). Installed where missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get install -y chromium || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

# s3rver (npm, pinned): an S3-compatible server on a folder, so the broker-restart fault test can
# run tansu on its persistent s3 engine (LOCAL-INFRA.md). Installed where missing.
S3RVER := .tools/s3rver/node_modules/.bin/s3rver
$(S3RVER):
	npm install --no-audit --no-fund --prefix .tools/s3rver s3rver@3.7.1

test: lint typecheck compile $(CHROMIUM) $(S3RVER)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

# Record the current generation's DsrWorkflowV2 histories that tests/test_replay.py replays
# (tests/histories/<HISTORY_GENERATION>_*.json, see tests/integration/test_decisions.py): after a
# change to workflows/dsr.py that is meant to ship, bump the generation, record, commit the files;
# older generations' files stay, so workflows started before each workflow.patched keep replaying.
histories: compile
	DSR_RECORD_HISTORIES=1 $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/integration/test_decisions.py

schema: $(VENV)/.synced
	$(VENV)/bin/dsr schema export schemas/json

# >= 10,000 generated hostile events through the intake's validation (prints its figures).
fuzz: compile
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m fuzz -s tests/fuzz

bench: compile $(S3RVER)
	$(VENV)/bin/python bench/e2e.py

# Side by side with Fides 2.86.2 (its harness in ../shared/peers/fides installs it into a cache
# dir; Python >= 3.13 needed: PY313=/path/to/python3.13). Uses the machine's PostgreSQL/Redis.
peer-fides: compile
	$(VENV)/bin/python bench/peer_fides.py

clean:
	rm -rf .state .pytest_cache .mypy_cache .ruff_cache

# Fault injection, long variants (50 requests through Temporal kills, more rounds and crashes);
# `make test` runs the short ones. Prints "faults injected, requests, lost, duplicated effects".
faults: compile $(S3RVER)
	DSR_FAULTS_LONG=1 $(VENV)/bin/python -m pytest -q -p no:cacheprovider -s -m faults tests/faults
