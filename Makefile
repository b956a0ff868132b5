# Two commands for a new user:  `make serve`  and  `make test`.  Both install everything first.
PYTHON ?= python3
VENV ?= .venv
DATA_DIR ?= ./data
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck unit bench-text bench-image calibrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install  ## install, then run the API on SQLite + local index files in $(DATA_DIR)
	$(BIN)/provenance serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: install lint typecheck unit  ## install, then ruff, mypy and the whole pytest suite

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest

bench-text: install
	$(BIN)/python -m benchmarks.bench_text

bench-image: install
	$(BIN)/python -m benchmarks.bench_image

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
