# The front door. Every target creates the virtualenv it needs on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv generate check lint typecheck drift-check test soak demo bench bench-quick bench-scale bench-scale-quick bench-compare clean

help:
	@echo "make demo      run the demo on an embedded SQLite file"
	@echo "make test      run every test (starts a throwaway PostgreSQL)"
	@echo "make soak      the fault-injection suite for minutes, with figures"
	@echo "make generate  regenerate generated/ from schema/"
	@echo "make check     fail when generated/ is stale; lint; mypy --strict"
	@echo "make bench     generated repositories vs raw drivers and ORMs"
	@echo "make bench-scale  how cost grows: 10k-1M rows, concurrency, processes"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[postgres,dev]'
	# Editable installs are not byte-compiled; compiling once keeps imports fast
	# even where PYTHONDONTWRITEBYTECODE is set.
	$(PY) -m compileall -q src generated codegen > /dev/null || true
	touch $(STAMP)

venv: $(STAMP)

generate: $(STAMP)
	$(PY) -m codegen generate

check: $(STAMP)
	$(PY) -m codegen check
	$(MAKE) --no-print-directory lint typecheck drift-check

lint: $(STAMP)
	$(PY) -m ruff check src codegen generated tests examples bench
	$(PY) -m ruff format --check src codegen generated tests examples bench

typecheck: $(STAMP)
	$(PY) -m mypy src/synthorg codegen tests/support examples

# Fresh SQLite and PostgreSQL databases built from the revisions must match
# the desired-state DDL (python -m synthorg.persistence.drift on a live one).
drift-check: $(STAMP)
	$(PY) -m tests.migrations.drift_check

test: $(STAMP)
	$(PY) -m pytest -q

# The fault-injection suite for longer (SYNTHORG_SOAK scales every trial
# count); each test prints its figures (trials, acknowledged writes, lost).
soak: $(STAMP)
	SYNTHORG_SOAK=$${SYNTHORG_SOAK:-20} $(PY) -m pytest -q -s -m faults tests/faults

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) -c 'import asyncpg, sqlalchemy, greenlet' 2>/dev/null || $(PY) -m pip install --quiet -e '.[postgres,dev,bench]'
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -c 'import asyncpg, sqlalchemy, greenlet' 2>/dev/null || $(PY) -m pip install --quiet -e '.[postgres,dev,bench]'
	$(PY) -m bench --quick

# How cost grows (docs/benchmarks.md, "How cost grows"): tables of 10k, 100k
# and 1M rows, 1-256 coroutines, 1-4 processes, peak memory; JSON and PNGs in
# .bench-scale/. Flags through BENCH_SCALE_ARGS, e.g. BENCH_SCALE_ARGS=--doc
# to update docs/ too. bench-scale-quick: 10k rows, about two minutes.
BENCH_DEPS := $(PY) -c 'import asyncpg, sqlalchemy, greenlet, matplotlib' 2>/dev/null || $(PY) -m pip install --quiet -e '.[postgres,dev,bench]'

# Before/after in one run: this tree against BASE (a git revision),
# alternating processes round by round (docs/benchmarks.md).
BASE ?= HEAD~1
bench-compare: $(STAMP)
	$(BENCH_DEPS)
	$(PY) -m bench.compare --base $(BASE) $(BENCH_COMPARE_ARGS)

bench-scale: $(STAMP)
	$(BENCH_DEPS)
	$(PY) -m bench.scale $(BENCH_SCALE_ARGS)

bench-scale-quick: $(STAMP)
	$(BENCH_DEPS)
	$(PY) -m bench.scale --quick $(BENCH_SCALE_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .demo .bench-scale
