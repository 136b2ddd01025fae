# The two commands a newcomer needs are `make run` and `make test`;
# both set the machine up first (scripts/setup.sh).
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help setup run test test-slow lint bench bench-full schema

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## system packages (apt-get, as root), virtualenv, package with extras
	@VENV=$(VENV) scripts/setup.sh

run: setup  ## run Sideline on its embedded default: broker, S3, cloud and a box on one machine
	$(BIN)/sideline demo

lint: setup  ## ruff (lint + format) and mypy, over product, tests and bench (also a pre-commit hook)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint  ## the whole suite as CI runs it: lint, types, tests (bounded soak)
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup  ## the long soak/fault suites
	$(BIN)/python -m pytest -m slow

bench: setup  ## every listed benchmark in its quick mode (smaller inputs, minutes): figures, limits, ratios
	$(BIN)/python bench/run.py

bench-full: setup  ## the same benchmarks at the sizes the docs quote (the better part of an hour)
	$(BIN)/python bench/run.py --full

schema: setup  ## regenerate docs/protocol/*.schema.json
	$(BIN)/sideline protocol schema --out docs/protocol
