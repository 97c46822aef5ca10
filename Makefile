# make demo : set up .venv and ground a query in a real (generated) video, offline.
# make test : set up .venv and run the linter and the whole test suite.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN = $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/momentfinder: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/momentfinder

demo: setup
	$(BIN)/python -m momentfinder.demo

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) demo build *.egg-info
