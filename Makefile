# Rapport — every target runs through the project's virtual environment (.venv); nobody activates anything.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
UV ?= $(shell command -v uv 2>/dev/null || echo $(VENV)-bootstrap/bin/uv)
TORCH_VERSION := 2.13.0+cpu
# Telemetry off for every tool the pipeline drives (also set in code).
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export GX_ANALYTICS_ENABLED := False
export MLFLOW_ENABLE_TELEMETRY := false
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: help
help: ## show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)-bootstrap/bin/uv:
	python3.11 -m venv $(VENV)-bootstrap && $(VENV)-bootstrap/bin/pip install -q uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --inexact --python 3.11
	@# torch: the CPU build only — a local wheel where $$PIP_FIND_LINKS names one, else PyTorch's CPU index.
	if [ -n "$$PIP_FIND_LINKS" ]; then \
	  $(UV) pip install --no-config --python $(PY) --find-links "$$PIP_FIND_LINKS" "torch==$(TORCH_VERSION)"; \
	else \
	  $(UV) pip install --no-config --python $(PY) --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple "torch==$(TORCH_VERSION)"; \
	fi
	touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv with the pinned dependencies (torch CPU build)

.PHONY: demo
demo: install ## generate sample data and run the whole pipeline through Airflow (dag.test)
	$(VENV)/bin/rapport demo

# The report's browser test drives Debian's Chromium (playwright, no downloaded browser); installed when absent.
CHROMIUM ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "chromium not found: install Chromium and set CHROMIUM=/path/to/it"; exit 1; }
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium >/dev/null || \
	  { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q >/dev/null && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium >/dev/null; }

.PHONY: browser
browser: $(CHROMIUM) ## install Chromium for the report's browser test (Debian's package)

.PHONY: test
test: install browser ## lint, then run the whole test suite
	$(VENV)/bin/ruff check .
	RAPPORT_CHROMIUM=$(CHROMIUM) $(VENV)/bin/pytest

.PHONY: lint
lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: format
format: install ## ruff format and fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCH_CUSTOMERS ?= 10000
# More bench_pipeline.py options, e.g. BENCH_ARGS="--no-references" or "--days 365".
BENCH_ARGS ?=
.PHONY: bench
bench: install ## time every stage (initial load, daily run, training) beside its references (BENCH_CUSTOMERS=10000); JSON in benchmarks/results/
	$(PY) benchmarks/bench_pipeline.py --customers $(BENCH_CUSTOMERS) $(BENCH_ARGS)

BENCH_DBT_CUSTOMERS ?= 100000
.PHONY: bench-dbt
bench-dbt: install ## dbt build vs the same marts as hand-written DuckDB SQL (BENCH_DBT_CUSTOMERS=100000)
	$(PY) benchmarks/bench_dbt.py --customers $(BENCH_DBT_CUSTOMERS)

.PHONY: airflow-ui
airflow-ui: install ## start the Airflow UI (airflow standalone) on the repo's dags folder, warehouse pool created
	$(VENV)/bin/rapport airflow-env -- airflow db migrate
	$(VENV)/bin/rapport airflow-env -- airflow pools set warehouse 1 "DuckDB warehouse: one writer at a time"
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/rapport airflow-env -- airflow standalone

.PHONY: mlflow-ui
mlflow-ui: install ## start the MLflow UI on the demo's runs
	$(VENV)/bin/rapport mlflow-ui

.PHONY: clean
clean: ## delete all local state (var/)
	rm -rf var
