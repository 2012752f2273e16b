# dgm: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU wheel of this machine; the package itself accepts a range.
TORCH := torch==2.13.0
# Tests read MNIST from the shared copy beside the checkout when there is one, never the network.
SHARED_MNIST := $(abspath ../shared/data/mnist)
TEST_ENV := $(if $(wildcard $(SHARED_MNIST)),DGM_DATA=$(SHARED_MNIST))

.PHONY: venv demo test lint browser bench clean

$(BIN)/dgm: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(BIN)/dgm

venv: $(BIN)/dgm

demo: venv
	$(BIN)/dgm demo --out demo

lint: venv
	$(BIN)/ruff check dgm tests benchmarks scripts
	$(BIN)/ruff format --check dgm tests benchmarks scripts

# The report's browser test needs Chromium: Debian's package when we may install it, else the test
# skips and says how to install it.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  chromium >/dev/null; } || echo "Chromium is missing: the browser test will skip (apt-get install chromium)"

# Lint, the fast suite (with doctests), then the slow end-to-end tests.
# pytest's exit code 5 (no test ran) is non-zero, so an empty run fails make, and CI, loudly.
test: lint browser
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider tests dgm --doctest-modules
	$(TEST_ENV) $(BIN)/python -m pytest -q -m slow -p no:cacheprovider

bench: venv
	$(TEST_ENV) $(BIN)/python benchmarks/run.py $(BENCH)

clean:
	rm -rf $(VENV) runs demo .pytest_cache
