# Two commands on a fresh machine:  `make run` (the demo chat) and `make test` (every test).
# Both build their own environment first (scripts/setup.sh): .venv, Python deps, npm peers.
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-compiled setup setup-test lint typecheck coverage-report bench clean

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

run: setup
	$(PY) -m gsocketio --host $(HOST) --port $(PORT)

lint: setup-test
	.venv/bin/ruff check gsocketio tests bench examples scripts
	.venv/bin/ruff format --check gsocketio tests bench examples scripts

typecheck: setup-test
	.venv/bin/mypy

# pytest under coverage (gevent-aware, settings in pyproject.toml), then the per-module floors,
# then the tests of the mypyc-compiled modules against a compiled copy of the tree
test: setup-test lint typecheck
	$(PY) -m coverage run -m pytest tests
	$(PY) tests/coverage_floor.py
	$(MAKE) test-compiled

# the GSOCKETIO_MYPYC build's modules compiled in a temporary copy, their tests run against it
test-compiled: setup-test
	PY=$(PY) bash scripts/test_compiled.sh

# after `make test`: every module's coverage beside its floor, and the lines not run
coverage-report:
	$(PY) tests/coverage_floor.py --measured
	$(PY) -m coverage report --skip-covered --show-missing

bench: setup-test
	$(PY) bench/run.py

clean:
	rm -rf .venv node_modules .stamps
