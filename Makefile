# Every install step lives here, so a fresh machine needs only `make demo` or `make test`.
# One .venv, two stamps: `make demo` installs the product and the simulator's chart
# (.[simulate]) and no dev tool; `make test`, `make venv` and the rest add the tests' and
# linters' tools (.[dev,simulate]), which covers the demo too. Either order works.
# --no-compile: Python writes bytecode on first import, for the modules actually used
# (a third of the install time and ~140 MB of .pyc otherwise, mostly never loaded).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv tools demo test lint bench loadtest clean

venv: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e '.[simulate]'
	$(BIN)/python -m compileall -q autoscaler  # as an installed package ships it
	touch $@

$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e '.[dev,simulate]'
	$(BIN)/python -m compileall -q autoscaler
	touch $@ $(VENV)/.demo

# The main job on its embedded default: no cluster needed.
demo: $(VENV)/.demo
	$(BIN)/autoscaler simulate

# The real programs the tests drive: kubectl (built from source where the machine has
# none) and Prometheus (Debian's package). Each script is a no-op when the tool is there.
tools:
	scripts/ensure-kubectl >/dev/null
	scripts/ensure-prometheus >/dev/null

# The suite runs on the current Kubernetes release (scripts/testbed's default); the
# compatibility suite runs again on v1.20, the oldest release checked (docs/testbed.md).
COMPAT_TESTS := tests/e2e/test_testbed.py tests/e2e/test_loop_run.py tests/e2e/test_crd_e2e.py \
	tests/e2e/test_hpa_import_e2e.py

# Workers: the end-to-end tests mostly wait on controllers and sync periods, so three
# workers (each with its own testbed, a test file never split between them) halve the
# suite's time on two cores; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3

test: venv tools
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile
	TESTBED_VERSION=1.20 $(BIN)/pytest -q -n 2 --dist loadfile $(COMPAT_TESTS)

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
