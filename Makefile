# Set-up, service and tests. `make serve` and `make test` are the two entry points.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed first so that pip does not pull a multi-GB CUDA build; on a GPU host use e.g.
#   make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup serve test bench-correlation clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

serve: setup
	$(BIN)/naswot serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest -q

bench-correlation: setup
	$(BIN)/python bench/correlation.py --n 300 --seed 0

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
