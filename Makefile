# Quick start: `make run` starts wasmpool with embedded defaults, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint layout typecheck imports pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/wasmpool broker --frontend tcp://127.0.0.1:5555 --backend tcp://127.0.0.1:5556 --state sqlite:var/state.db --with-workers 2 --demo examples/rust

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy and import-linter read packages from folders; build/layout links the
# installed wasmpool package's folder tree together for them (tools/layout.py).
layout: $(STAMP)
	$(BIN)/python tools/layout.py >/dev/null

typecheck: layout
	$(BIN)/mypy

imports: layout
	cd build/layout && ../../$(BIN)/lint-imports ../../pyproject.toml

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck imports pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/wasmpool bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
