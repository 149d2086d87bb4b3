# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench bench-analytics eval-semantic clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/sluicegate serve $(ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

bench-analytics: $(DEV_STAMP)
	$(BIN)/python -m bench.analytics

eval-semantic: $(DEV_STAMP)
	$(BIN)/python -m bench.semantic_eval

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
