# Two commands from a fresh clone: `make demo` and `make test`.
# Each sets up .venv on first use (Python 3.11 from PATH, or $(PYTHON)).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pixlee demo

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench deploy pixlee_pipeline.py
	$(BIN)/ruff check src tests bench deploy pixlee_pipeline.py

typecheck: $(STAMP)
	$(BIN)/mypy src

unit: $(STAMP)
	bash scripts/ensure_services.sh
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache pixlee.duckdb
