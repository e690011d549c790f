# Two commands matter: `make demo` and `make test`. Each builds .venv itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo ui test lint unit e2e e2e-celery docs screenshots bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0) if v >= (3, 11) else sys.exit(f"$(PYTHON) is Python {v[0]}.{v[1]}; this project needs 3.11 (its constraints are known-good there). Run: make PYTHON=python3.11 $(MAKECMDGOALS)")'
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; v == (3, 11) or print(f"note: $(PYTHON) is Python {v[0]}.{v[1]}; constraints.txt is known-good on 3.11 (make PYTHON=python3.11 ...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,celery]"
	touch $(STAMP)

demo: $(STAMP)
	PYTHONPATH=. $(BIN)/python scripts/demo.py

# The demo in a real Airflow UI on 127.0.0.1 (docs/getting-started.md); Ctrl-C stops it.
ui: $(STAMP)
	PYTHONPATH=. $(BIN)/python scripts/ui.py

# Everything CI runs: lint, the unit and integration tests, a real Airflow end to end (LocalExecutor, then
# CeleryExecutor), the docs site.
test: lint unit e2e e2e-celery docs

unit: $(STAMP)
	$(BIN)/python -m pytest --ignore=tests/e2e --ignore=tests/e2e_celery

# A real Airflow on 127.0.0.1 (api-server, scheduler, dag-processor, triggerer), REST and headless Chromium.
e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

# A distributed Airflow on 127.0.0.1: CeleryExecutor, Redis, PostgreSQL, two workers, one SIGKILLed mid-upload.
e2e-celery: $(STAMP)
	$(BIN)/python -m pytest -s tests/e2e_celery

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Re-take the UI screenshots the docs show (docs/img) from a fresh end-to-end run.
screenshots: $(STAMP)
	HUMAN_SCREENSHOT_DIR=docs/img $(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks print their figures (docs/benchmarks.md); several minutes in all.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_lookup_speedup.py
	$(BIN)/python benchmarks/bench_lookups.py
	$(BIN)/python benchmarks/bench_feedback_batching.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_dag_parse.py
	$(BIN)/python benchmarks/bench_rate_budget.py

# Re-resolve from pyproject.toml in a scratch venv and pin what came out (docs/development.md).
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet ".[test,celery]"
	{ echo "# Known-good versions for airflow-provider-human's tests and demo (Python 3.11)."; \
	  echo "# Refresh with: make constraints   (see docs/development.md)"; \
	  .venv-constraints/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -E '^(airflow-provider-human|pip|setuptools|wheel)( |==)'; } > constraints.txt
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) .demo .ui .e2e site .pytest_cache .ruff_cache
