# Customer segmentation pipeline. `make help` lists the targets.
# Every target that runs Python creates and uses the local virtual environment .venv itself.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=
HOST   ?= 127.0.0.1
PORT   ?= 5000
MLFLOW_DB ?= sqlite:///$(CURDIR)/mlflow.db

.DEFAULT_GOAL := help
.PHONY: help install train sweep score history serve promote server bench test test-fast browser screenshot notebook ui lint clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'
	@echo '  Pass Hydra overrides with ARGS, e.g. make train ARGS="model.k=6 preprocess=robust"'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,spark,server]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dependencies

train: $(STAMP) ## train on the bundled sample data (or your data via ARGS) and log to MLflow
	$(PY) pipelines/train.py $(ARGS)

sweep: $(STAMP) ## multirun over algorithms, k and scalers; comparison table and a champion model
	$(PY) pipelines/sweep.py $(ARGS)

score: $(STAMP) ## labels for new data from the dataset's model (see conf/score.yaml)
	$(PY) pipelines/score.py $(ARGS)

history: $(STAMP) ## the model at each snapshot: movements, share drift, plots (ARGS="from=2024-01-01 to=2024-12-01 every=month")
	$(PY) pipelines/history.py $(ARGS)

promote: $(STAMP) ## make a version the champion if it beats the current one (ARGS="--version 3")
	$(PY) pipelines/promote.py $(ARGS)

MODEL ?=
DATA ?= sample
MODEL_NAME ?=
SERVE_PORT ?= 5001
serve: $(STAMP) ## REST API of a dataset's model (DATA=sample; MODEL=3, champion or a URI; SERVE_PORT=5001)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-$(MLFLOW_DB)} \
	  $(PY) pipelines/serve.py --model "$(MODEL)" --data $(DATA) --host $(HOST) --port $(SERVE_PORT) \
	  $(if $(MODEL_NAME),--model-name $(MODEL_NAME))

server: $(STAMP) ## team tracking server on HOST:PORT: basic auth, PostgreSQL, artifacts (needs MLFLOW_AUTH_ADMIN_PASSWORD)
	$(PY) pipelines/server.py --host $(HOST) --port $(PORT) $(ARGS)

BENCH_SIZES ?= 100000,1000000
$(VENV)/.installed-bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	@touch $@

bench: $(VENV)/.installed-bench ## benchmarks with ratios to references and peak memory (BENCH_SIZES=100000,1000000)
	$(PY) benchmarks/run.py --sizes $(BENCH_SIZES) $(ARGS)

test: $(STAMP) browser ## run the whole test suite (slow tests included)
	$(PY) -m pytest $(ARGS)

browser: ## the distribution's headless Chromium, which the UI tests drive (installed when missing)
	@command -v chromium >/dev/null || { \
	  echo "installing Chromium (Debian package) for the UI tests ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test-fast: $(STAMP) ## run the tests not marked slow
	$(PY) -m pytest -m "not slow" $(ARGS)

screenshot: $(STAMP) browser ## PNG of the whole newest persona report (headless Chromium)
	$(PY) pipelines/screenshot.py $(ARGS)

notebook: $(STAMP) ## open the walkthrough of the dataset's champion run in Jupyter (DATA=sample)
	SEGMENTATION_DATA=$(DATA) $(VENV)/bin/jupyter notebook --no-browser --ip=$(HOST) --port=8888 \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/segmentation_walkthrough.ipynb

ui: $(STAMP) ## serve the MLflow UI (HOST=127.0.0.1 PORT=5000 by default)
	$(VENV)/bin/mlflow ui --backend-store-uri $(MLFLOW_DB) --default-artifact-root $(CURDIR)/mlartifacts --host $(HOST) --port $(PORT)

lint: $(STAMP) ## ruff on the code
	$(VENV)/bin/ruff check src pipelines tests

clean: ## remove generated data, outputs and caches (keeps .venv and the MLflow store)
	rm -rf data outputs multirun reports .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
