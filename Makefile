# Two commands: `make run` (set up, run the flow on data/raw) and `make test` (set up, run tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Prefect's telemetry would try the network; one BLAS thread per process is faster on 2 cores.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: setup run server test lint docs eval bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m flows.preprocess --source data/raw --output output

# A local Prefect server with its UI on http://127.0.0.1:4200. While it is up, `make run` and
# `python -m flows.preprocess` use it: no temporary server per run, and the runs stay in the UI.
server: setup
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

# docs/tables.md from schemas/tables.py (tests/schemas/test_tables_doc.py fails when it is stale).
docs: setup
	$(BIN)/python -m schemas.doc

clean:
	rm -rf output/*/ output/_staging output/.lock
