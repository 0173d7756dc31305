# Two entry points for a fresh machine (Python >= 3.11): `make run` and `make test`. Each installs from the lock,
# uv.lock, into an environment of its own, so neither undoes the other (docs/dependencies.md):
#   .venv-serve       make run: serving only (numpy, discord.py, pydantic-settings), no TensorFlow
#   .venv             make test, make train, make bench: everything, training and the test tools included
#   .venv-serve-test  make test-serving: serving only plus the test runner, the project installed as a package
#   .venv-uv          uv itself, pinned with hashes in deploy/uv-requirements.txt
PYTHON ?= python3
VENV ?= .venv
SERVE_VENV ?= .venv-serve
SERVE_TEST_VENV ?= .venv-serve-test
UV_VENV ?= .venv-uv
UV := $(UV_VENV)/bin/uv
# uv runs on $(PYTHON), never downloads a Python of its own, and trusts the system's certificates (as pip does).
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS ?= 1
# Byte-compile at install, as pip does: otherwise, where PYTHONDONTWRITEBYTECODE is set, every start compiles
# TensorFlow's modules again (twice the time to import it, a minute more for the test suite).
export UV_COMPILE_BYTECODE ?= 1
# Install exactly what uv.lock pins for these extras (and nothing else: sync removes what the lock does not list);
# --locked refuses a lock that no longer matches pyproject.toml.
SYNC = $(UV) sync --locked --quiet
STALE_LOCK = { echo "make: could not install from uv.lock; if uv says it needs to be updated: make lock" >&2; exit 1; }

.PHONY: run test test-serving train lock bench clean

$(UV): deploy/uv-requirements.txt
	test -d $(UV_VENV) || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --require-hashes -r deploy/uv-requirements.txt
	touch $@

# The bot: on Discord when BARD_TOKEN is set (environment, .env or secrets), otherwise in console mode.
run: $(SERVE_VENV)/.synced
	$(SERVE_VENV)/bin/bard-bot

$(SERVE_VENV)/.synced: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(SERVE_VENV) $(SYNC) || $(STALE_LOCK)
	touch $@

# Lint, then the whole test suite.
test: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(SYNC) --extra dev || $(STALE_LOCK)
	touch $@

# Every test that needs no TensorFlow (tests/conftest.py: --serving) on a serving-only install, as a small host or
# the bot's image has it: proof that serving never imports TensorFlow. The project is installed as a package (the
# tests import it, not the source tree), so it is reinstalled when the code changes.
test-serving: $(SERVE_TEST_VENV)/.synced
	@if $(SERVE_TEST_VENV)/bin/python -c 'import tensorflow' 2>/dev/null; then \
		echo "$(SERVE_TEST_VENV) can import tensorflow: not a serving-only install" >&2; exit 1; fi
	$(SERVE_TEST_VENV)/bin/pytest -q --serving -p no:cacheprovider

$(SERVE_TEST_VENV)/.synced: pyproject.toml uv.lock $(wildcard bot/*.py model_store/*.py model_store/rules/*.py model_store/rules/*.txt model_store/shakespeare/* training/*.py training/importers/*.py) | $(UV)
	UV_PROJECT_ENVIRONMENT=$(SERVE_TEST_VENV) $(SYNC) --extra test --no-editable --reinstall-package bard \
		|| $(STALE_LOCK)
	touch $@

# Training, in the full environment: make train ARGS='--play othello --epochs 20 --out model_store/othello'
# (bard-train's own help without ARGS). .venv/bin/bard-train works as well once this or make test has run.
train: $(VENV)/.synced
	$(VENV)/bin/bard-train $(or $(ARGS),--help)

# After any change to the dependencies in pyproject.toml: re-resolve uv.lock (other pins stay where they still fit;
# make lock ARGS=--upgrade moves every pin to the newest release allowed), then commit it with the change.
lock: | $(UV)
	$(UV) lock $(ARGS)

bench: $(VENV)/.synced
	$(VENV)/bin/python benchmarks/generation.py

clean:
	rm -rf $(VENV) $(SERVE_VENV) $(SERVE_TEST_VENV) $(UV_VENV) .pytest_cache .ruff_cache
