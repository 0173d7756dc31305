# Two entry points for a fresh machine (Python >= 3.11): `make run` and `make test`.
VENV ?= .venv
SERVE_VENV ?= .venv-serve
PYTHON ?= python3

.PHONY: run test test-serving lint bench clean

# The virtual environment, rebuilt when the dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The bot: on Discord when BARD_TOKEN is set (environment, .env or secrets), otherwise in console mode.
run: $(VENV)/.installed
	$(VENV)/bin/bard-bot

# Lint, then the whole test suite.
test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

# A serving-only environment, as a small host or the bot's image has it: `pip install .` (no extras, so no
# TensorFlow) and the test runner, nothing else. Reinstalled when the code changes: the tests import the installed
# package, not the source tree.
$(SERVE_VENV)/.installed: pyproject.toml $(wildcard bot/*.py model_store/*.py model_store/rules/*.py model_store/rules/*.txt model_store/shakespeare/* training/*.py training/importers/*.py)
	test -d $(SERVE_VENV) || $(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVE_VENV)/bin/pip install --quiet . 'pytest>=8' 'pytest-asyncio>=0.24'
	touch $@

# Every test that needs no TensorFlow (tests/conftest.py: --serving), there: proof that serving never imports it.
test-serving: $(SERVE_VENV)/.installed
	@if $(SERVE_VENV)/bin/python -c 'import tensorflow' 2>/dev/null; then \
		echo "$(SERVE_VENV) can import tensorflow: not a serving-only install" >&2; exit 1; fi
	$(SERVE_VENV)/bin/pytest -q --serving -p no:cacheprovider

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/generation.py

clean:
	rm -rf $(VENV) $(SERVE_VENV) .pytest_cache .ruff_cache
