# Set-up, service and tests. `make serve` and `make test` are the two entry points.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch version the tests run on, declared once: the Dockerfile's ARG TORCH_VERSION (the image's default too).
TORCH_VERSION := $(shell sed -n 's/^ARG TORCH_VERSION=//p' Dockerfile)
# Installed first so that pip does not pull a multi-GB CUDA build; on a GPU host use e.g.
#   make TORCH="torch==$$(make -s torch-version) --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==$(TORCH_VERSION)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup chromium serve test bench-correlation clean torch-version

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

serve: setup
	$(BIN)/naswot serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium through Playwright (which never downloads a browser);
# installed here when missing, as root with apt-get (as CI runs). Without it those tests skip,
# except under CI=true, where they fail.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: setup chromium
	$(BIN)/python -m pytest -q

torch-version:
	@echo $(TORCH_VERSION)

bench-correlation: setup
	$(BIN)/python bench/correlation.py --n 300 --seed 0

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
