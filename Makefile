# `make demo` and `make test` set up a local virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch; set TORCH_SPEC=torch (or a CUDA wheel) on a GPU machine.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core by default; TEST_JOBS=0 runs the tests in this process.
TEST_JOBS ?= auto

.PHONY: demo test test-all venv clean bench wheel

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/isgd demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "" -n $(TEST_JOBS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/isgd bench core

# The installable wheel in dist/ (pip install dist/isgd_toolkit-*.whl; extras: [dist], [test]).
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) build dist *.egg-info
