# Two front doors, each doing its own set-up on a fresh machine:
#   make train   -> creates .venv, installs rlvr, runs `rlvr train` (the embedded CPU default)
#   make test    -> creates .venv, installs rlvr with test extras, runs the test suite
# Pass arguments with ARGS="..." (train) or PYTEST_ARGS="..." (test); EXTRAS="test,ray,data,peers" installs the
# optional parts too (CI does, so that no test of theirs is skipped).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= test
# torch first and pinned (the pin lives in pyproject.toml): an unpinned torch pulls a multi-GB CUDA build.
TORCH := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)

.PHONY: train test install lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

train: install
	$(VENV)/bin/rlvr train $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check rlvr tests benchmarks
	$(VENV)/bin/ruff format --check rlvr tests benchmarks
