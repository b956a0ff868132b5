# Two commands for a new user:  `make serve`  and  `make test`.  Both install everything first.
# DATA_DIR, HOST and PORT default to PROVENANCE_DATA_DIR, PROVENANCE_HOST and PROVENANCE_PORT, else ./data,
# 127.0.0.1 and 8000 (the service's own defaults).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SERVE_FLAGS := $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))


.PHONY: install install-dev lock serve test lint typecheck unit bench-text bench-image calibrate clean

$(STAMP): pyproject.toml constraints.txt
	@echo "Installing Provenance and its runtime dependencies into $(VENV) (ONNX Runtime, faiss, OpenCV; no PyTorch)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	@echo "Installing the test tools and the 'clip' extra (PyTorch, open_clip) into $(VENV)"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,clip]'
	touch $(DEV_STAMP)

lock:  ## refresh constraints.txt: the newest versions pyproject.toml allows, resolved in a fresh venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev,clip]'
	(echo "# Versions CI and 'make' install (pip install -c constraints.txt ...). Refresh: make lock"; \
	 .lock-venv/bin/pip freeze | grep -v -e '^-e' -e '^provenance') > constraints.txt
	rm -rf .lock-venv

install: $(STAMP)

install-dev: $(DEV_STAMP)

serve: install  ## install, then run the API and the web interface on SQLite + local index files
	$(BIN)/provenance serve $(SERVE_FLAGS)

test: install-dev lint typecheck unit  ## install, then ruff, mypy and the whole pytest suite

lint: install-dev
	$(BIN)/ruff check .

typecheck: install-dev
	$(BIN)/mypy

unit: install-dev
	$(BIN)/python -m pytest

bench-text: install
	$(BIN)/python -m benchmarks.bench_text

bench-image: install
	$(BIN)/python -m benchmarks.bench_image

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
