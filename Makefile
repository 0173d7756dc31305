# Two entry points for a fresh machine (Python >= 3.11): `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3

.PHONY: run test lint bench clean

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

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/generation.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
