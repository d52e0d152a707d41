# Two commands matter: `make repro` (set up, then run the pipeline) and
# `make test` (set up, then run the tests). Everything else is a convenience.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HYDROGEN_KITS ?= /usr/share/hydrogen/data/drumkits
# dvc.yaml runs `python stages/...`: the venv must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test test-fast kits bench clean-venv

# The venv is rebuilt whenever the lock or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# Real drum kits: Debian's hydrogen-drumkits (14 kits) copied into data/raw/hydrogen,
# tracked with `dvc add`, and switched on in params.yaml. Idempotent.
kits: setup
	@if [ ! -d "$(HYDROGEN_KITS)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq hydrogen-drumkits; \
	  else \
	    echo "make kits: $(HYDROGEN_KITS) not found; install Debian's hydrogen-drumkits (sudo apt-get install hydrogen-drumkits) or run: $(BIN)/musicml kits add --from DIR" >&2; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/musicml kits add --from "$(HYDROGEN_KITS)"

bench: setup
	$(BIN)/python benchmarks/repro_time.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/onnx_latency.py
	$(BIN)/python benchmarks/router_latency.py

clean-venv:
	rm -rf $(VENV)
