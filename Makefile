# Two commands do all set-up on a fresh machine:
#   make test   creates .venv if missing, installs the package with [dev], runs the suite
#               (tests/ and the package's docstring examples)
#   make test-fast  the same without the tests marked slow, for local iteration
#   make demo   the same install, then runs the shipped demo scorer offline
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Tests and the demo never touch the network: no hub downloads, no telemetry.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

.PHONY: install test test-fast demo lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# The stamp re-installs when the package metadata changes.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: install
	$(OFFLINE) $(BIN)/python -m pytest tests i2imetric

test-fast: install
	$(OFFLINE) $(BIN)/python -m pytest tests i2imetric -m "not slow"

demo: install
	$(OFFLINE) $(BIN)/i2imetric demo

lint: install
	$(BIN)/ruff check i2imetric training tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
