# tui-lab: `make run` sets up .venv and opens the lab on sample_data/; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first so pip never picks a build by itself; torch==2.13.0 is the CPU build
# on this workplace's disk and the CUDA build from PyPI elsewhere. Override: make run TORCH='torch==2.5.1'
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: venv run test test-slow test-all test-fast test-snapshot-update lint bench screenshots clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@if [ -n "$(TORCH)" ]; then $(BIN)/python -m pip install -q "$(TORCH)"; fi
	@$(BIN)/python -m pip install -q -e ".[dev,bench]"
	@touch $(STAMP)

run: venv
	$(BIN)/tui-lab

# the tests run on every core (pytest-xdist, one worker a core; tests/conftest.py splits torch's threads).
# make test: everything but the slow set (one real end-to-end run per face and per task stays in it);
# make test-slow: the slow set (long keyboard flows in tmux, real sweeps, long training); CI runs both.
# pytest's exit code 5 (no test selected) is a pass: a set may be empty.
PYTEST := $(BIN)/python -m pytest -q -n auto --dist worksteal

test: venv
	$(PYTEST) -m "not slow and not e2e" || [ $$? -eq 5 ]

test-slow: venv
	$(PYTEST) -m "slow or e2e" || [ $$? -eq 5 ]

test-all: venv
	$(PYTEST)

test-fast: test

test-snapshot-update: venv
	$(BIN)/python -m pytest -q tests/ui --snapshot-update

lint: venv
	$(BIN)/ruff check tui_lab tests benchmarks
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python benchmarks/train_throughput.py

screenshots: venv
	$(BIN)/python screenshots/make_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
