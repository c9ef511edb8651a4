# Every install step lives here, so a fresh machine needs only `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv tools demo test lint bench loadtest clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q autoscaler  # as an installed package ships it
	touch $@

# The main job on its embedded default: no cluster needed.
demo: venv
	$(BIN)/autoscaler simulate

# The real programs the tests drive: kubectl (built from source where the machine has
# none) and Prometheus (Debian's package). Each script is a no-op when the tool is there.
tools:
	scripts/ensure-kubectl >/dev/null
	scripts/ensure-prometheus >/dev/null

test: venv tools
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check autoscaler tests loadtest
	$(BIN)/ruff format --check autoscaler tests loadtest
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python loadtest/bench_decide.py

# Every loadtest/bench_*.py, each bounded in time; figures and machine -> loadtest/RESULTS.md.
# LOADTEST_ARGS="--only decide simulate" runs a subset, "--timeout 1800" allows longer.
loadtest: venv
	$(BIN)/python loadtest/run_all.py $(LOADTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
