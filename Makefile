# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

# Unit-level tests (no gateway server, no browser, no PostgreSQL or Redis) run first: a failure there
# stops `make test` early. tests/integration holds the backend suites too (tests/integration/backends).
SLOW_TESTS := tests/integration tests/browser
PYTEST := $(BIN)/pytest -p no:cacheprovider
# The slow tier waits on sockets, PostgreSQL, Redis, Chromium and the gateway processes it starts
# about as long as it computes: three workers on two cores overlap those waits (four contend and
# run no faster). One file per worker at a time: the tests of a file that start worker groups
# are not written to run beside each other. `make test XDIST=` runs it in one process.
XDIST ?= -n 3 --dist loadfile
# The fast tier is CPU work only: two workers take it from about 70 s to about 40 s on this machine.
XDIST_FAST ?= -n 2

.PHONY: run test test-fast lint bench bench-analytics soak eval-semantic clean

# uv installs the same pinned packages from the same registry as pip in under half a minute where
# pip took 81 s (resolving and unpacking ~1 GB of wheels one at a time); pip only installs uv. It
# compiles them as pip does: without .pyc files every process compiles what it imports (each time,
# where PYTHONDONTWRITEBYTECODE is set), and the tests' warnings-as-errors fail on a package's
# invalid escape sequence.
UV_VERSION := 0.9.30
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

$(STAMP): pyproject.toml | $(BIN)/python
	$(UV) -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(UV) -e '.[dev]'
	touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/sluicegate serve $(ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# pytest exits 5 when PYTEST_ARGS (say -k) select nothing in one tier: not a failure.
test-fast: lint
	$(PYTEST) $(XDIST_FAST) $(addprefix --ignore=,$(SLOW_TESTS)) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The slow tier starts a few hundred gateway and CLI processes; where PYTHONDONTWRITEBYTECODE is
# set (as on CI) none of them would find compiled sources, and each would compile them again
# (~0.35 s of a process start's ~2 s).
test: test-fast
	$(BIN)/python -m compileall -q src
	$(PYTEST) $(XDIST) $(SLOW_TESTS) $(PYTEST_ARGS) || [ $$? -eq 5 ]

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

bench-analytics: $(DEV_STAMP)
	$(BIN)/python -m bench.analytics

# 10 minutes of mixed load, RSS every 10 s (SOAK_DURATION=30 for a quick check of the harness).
soak: $(DEV_STAMP)
	$(BIN)/python -m bench.soak

eval-semantic: $(DEV_STAMP)
	$(BIN)/python -m bench.semantic_eval

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
