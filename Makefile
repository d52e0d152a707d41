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

.PHONY: setup repro test test-fast kits soundfonts bench clean-venv

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

# General-MIDI SoundFonts: recorded drum kits played through FluidSynth with exact
# GM-note labels. AVLdrums' Black Pearl is left out on purpose: it is the same
# recording as Hydrogen's "The Black Pearl 1.0", a held-out test kit.
SF2 := /usr/share/sounds/sf2
SOUNDFONTS ?= $(SF2)/FluidR3_GM.sf2 $(SF2)/TimGM6mb.sf2 $(SF2)/Red_Zeppelin_4_LV2.sf2
SOUNDFONT_PACKAGES := fluidsynth fluid-soundfont-gm timgm6mb-soundfont avldrums.lv2-soundfont
soundfonts: setup
	@missing=0; for f in $(SOUNDFONTS); do [ -f "$$f" ] || missing=1; done; \
	command -v fluidsynth >/dev/null || missing=1; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $(SOUNDFONT_PACKAGES); \
	  else \
	    echo "make soundfonts: install Debian's $(SOUNDFONT_PACKAGES) (sudo apt-get install ...), or run: $(BIN)/musicml soundfonts add FILE..." >&2; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/musicml soundfonts add $(SOUNDFONTS)

bench: setup
	$(BIN)/python benchmarks/repro_time.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/onnx_latency.py
	$(BIN)/python benchmarks/genmeta.py
	$(BIN)/python benchmarks/router_latency.py
	$(BIN)/python benchmarks/midi_throughput.py
	$(BIN)/python benchmarks/transcribe.py
	$(BIN)/python benchmarks/grooves.py

clean-venv:
	rm -rf $(VENV)
