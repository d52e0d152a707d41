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

.PHONY: setup repro test test-fast kits soundfonts bench push pull s3-local s3-local-stop clean-venv \
	compare report release sweep

# The venv is rebuilt whenever the lock or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Numeric libraries capped at their AVX2 kernels (src/musicml/numerics.py): the same commit and params give
# the same hashes on any x86-64 machine, AVX-512 or not. A .pth file applies it before any import.
NUMERICS := $(VENV)/.numerics-pinned
$(NUMERICS): $(STAMP) src/musicml/numerics.py
	$(BIN)/python -m musicml.numerics
	touch $(NUMERICS)

setup: $(STAMP) $(NUMERICS)

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
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/scale_engines.py
	$(BIN)/python benchmarks/onnx_latency.py
	$(BIN)/python benchmarks/genmeta.py
	$(BIN)/python benchmarks/router_latency.py
	$(BIN)/python benchmarks/real_kits.py
	$(BIN)/python benchmarks/midi_throughput.py
	$(BIN)/python benchmarks/s3_roundtrip.py
	$(BIN)/python benchmarks/ddp.py
	$(BIN)/python benchmarks/transcribe.py
	$(BIN)/python benchmarks/grooves.py

# The S3 remote (README "S3 remote"): endpoint and credentials from
# `dvc remote modify --local` or AWS_* variables; `musicml s3 check` says what is missing
# before dvc tries. REMOTE=name for another remote.
REMOTE ?= s3
push: setup
	$(BIN)/musicml s3 check --remote $(REMOTE)
	$(BIN)/dvc push -r $(REMOTE)

pull: setup
	$(BIN)/musicml s3 check --remote $(REMOTE)
	$(BIN)/dvc pull -r $(REMOTE)

# A local SeaweedFS S3 store in .s3-local/ (background, pid file there), and the
# `dvc remote modify --local` settings that point the remote at it.
s3-local: setup
	$(BIN)/musicml s3 local start --remote $(REMOTE)

s3-local-stop: setup
	$(BIN)/musicml s3 local stop

# Release readiness (README "Release readiness").
# `make compare [REF=main]`: dvc metrics/plots diff against REF, then the regression guards
# of params `compare` (exit 1 on a regression); everything lands in compare/.
REF ?= main
COMPARE_DIR ?= compare
compare: setup
	@mkdir -p $(COMPARE_DIR)
	$(BIN)/dvc metrics diff $(REF) --precision 4 | tee $(COMPARE_DIR)/metrics_diff.txt
	$(BIN)/dvc plots diff $(REF) --out $(COMPARE_DIR)/plots
	$(BIN)/musicml compare-metrics --ref $(REF) --json-output $(COMPARE_DIR)/diff.json | tee $(COMPARE_DIR)/guards.txt; \
	  exit $${PIPESTATUS[0]}

# `make report [REF=main]`: report.md as CML posts it (readiness, guards, metrics/params/plots diff).
report: setup
	@mkdir -p $(COMPARE_DIR)
	-$(BIN)/musicml compare-metrics --ref $(REF) --json-output $(COMPARE_DIR)/diff.json > $(COMPARE_DIR)/guards.txt
	$(BIN)/musicml report --base $(REF) --out report.md --plots-dir $(COMPARE_DIR)/plots --guards $(COMPARE_DIR)/guards.txt

# `make release VERSION=v0.1.0`: refuses unless metrics/readiness.json passed (and is committed),
# then registers the drum-classifier artifact with GTO (a git tag); `gto show` lists versions.
release: setup
	@test -n "$(VERSION)" || { echo "make release: give VERSION=vX.Y.Z" >&2; exit 2; }
	$(BIN)/musicml release $(VERSION)
	$(BIN)/gto show

# `make sweep [SWEEP_JOBS=2]`: queue params `sweep.grid` as DVC experiments and run them.
SWEEP_JOBS ?= 1
sweep: setup
	$(BIN)/musicml sweep --jobs $(SWEEP_JOBS)

clean-venv:
	rm -rf $(VENV)
