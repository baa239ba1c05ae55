# worldsmith: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Packages whose declared dependencies clash with ours, installed with --no-deps; their real needs are
# in pyproject. scenedetect and rapidocr ask for the GUI opencv-python, which fights
# opencv-python-headless over cv2; lpips asks for torchvision, which does not import beside our torch
# (we never import lpips: we read the LPIPS calibration weights its wheel ships).
NODEPS_PKGS ?= scenedetect==0.7.2 rapidocr-onnxruntime==1.4.4 lpips==0.1.4
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test test-all lint clean

# Re-runs the install only when pyproject.toml or the torch spec changed.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	if [ -n "$(NODEPS_PKGS)" ]; then $(BIN)/python -m pip install --quiet --no-deps $(NODEPS_PKGS); fi
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/worldsmith demo --out runs/demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

test-all: lint
	$(BIN)/python -m pytest -q -m ""

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
