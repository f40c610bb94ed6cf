# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m coolchic demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -x tests
	$(BIN)/python -m pytest -q --nbmake notebooks

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
