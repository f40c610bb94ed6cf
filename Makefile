# `make demo` and `make test` work on a fresh machine: they create .venv and install what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CYCLES := ../shared/tools/import_cycles.py

.PHONY: demo test test-slow lint format bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m coolchic demo
	$(BIN)/python -m coolchic demo --video --steps 300

test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then $(BIN)/python -m pytest -q --nbmake notebooks; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -f $(CYCLES) ]; then out="$$($(BIN)/python $(CYCLES) . coolchic c3 baselines)"; echo "$$out"; \
		echo "$$out" | grep -q '^cycles: 0 '; else echo "$(CYCLES) not found: import cycles not checked"; fi

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python benchmarks/fit_speed.py --out benchmarks/results/fit_speed.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
