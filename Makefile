# Two commands for a fresh machine: `make run` (set up, build the database on first
# run, open the app) and `make test` (set up, run every test: unit, app, browser and slow tiers).
# `make test-fast` runs the unit tier only (about two minutes on 2 cores) for day-to-day work.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: setup run test test-fast build lint clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "needs $(PY) (or: make PY=python3 ...)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/python -m app.serve --server.port $(PORT)

build: setup
	$(BIN)/python -m etl build

test: setup
	$(BIN)/python -m pytest -n 2

test-fast: setup
	$(BIN)/python -m pytest -m unit -n 2

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data/*.duckdb data/*.duckdb.*
