# Two commands matter: `make demo` and `make test`. Each builds .venv itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench constraints clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks print their figures (docs/benchmarks.md); several minutes in all.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_lookup_speedup.py
	$(BIN)/python benchmarks/bench_lookups.py
	$(BIN)/python benchmarks/bench_feedback_batching.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_dag_parse.py

# Re-resolve from pyproject.toml in a scratch venv and pin what came out (docs/development.md).
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet ".[test]"
	{ echo "# Known-good versions for airflow-provider-human's tests and demo (Python 3.11)."; \
	  echo "# Refresh with: make constraints   (see docs/development.md)"; \
	  .venv-constraints/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -E '^(airflow-provider-human|pip|setuptools|wheel)( |==)'; } > constraints.txt
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
