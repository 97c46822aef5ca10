# make demo : set up .venv and ground a query in a real (generated) video, offline.
# make test : set up .venv and run the linter and the whole test suite.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN = $(VENV)/bin

.PHONY: setup demo test lint bench qvh qvh-zeroshot clean

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
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/ingest.py

# QVHighlights with the released Moment-DETR features: make qvh FEATURES=/path/to/features
QVH_ANN ?= ../shared/data/qvhighlights
qvh: setup
	@test -n "$(FEATURES)" || { echo "usage: make qvh FEATURES=/path/to/qvhighlights/features [RUN=runs/qvhighlights]"; exit 2; }
	MF=$(CURDIR)/$(BIN)/momentfinder QVH_ANN=$(QVH_ANN) scripts/qvhighlights.sh "$(FEATURES)" $(RUN)

# The zero-shot grounder on QVHighlights val with the released CLIP features (no training)
qvh-zeroshot: setup
	@test -n "$(FEATURES)" || { echo "usage: make qvh-zeroshot FEATURES=/path/to/qvhighlights/features"; exit 2; }
	mkdir -p runs/qvh-zeroshot
	$(BIN)/momentfinder predict --grounder zero-shot --no-reject --features "$(FEATURES)" \
		--annotations $(QVH_ANN)/highlight_val_release.jsonl --out runs/qvh-zeroshot/val_preds.jsonl
	$(BIN)/momentfinder eval --submission runs/qvh-zeroshot/val_preds.jsonl \
		--gt $(QVH_ANN)/highlight_val_release.jsonl -o runs/qvh-zeroshot/val_metrics.json

clean:
	rm -rf $(VENV) demo build *.egg-info
