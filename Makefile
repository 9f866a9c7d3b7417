# Two commands do all the set-up: `make demo` runs the demo campaign, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU set-up: pin the local CPU torch wheel; GPU machines install their own torch (CONSTRAINTS=).
CONSTRAINTS ?= constraints/cpu.txt
PIP_CONSTRAINT_ARGS := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

.PHONY: setup demo test test-slow test-all lint clean-demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_CONSTRAINT_ARGS) -e '.[dft,dev]'
	touch $@

demo: setup
	$(BIN)/mlipcamp run configs/demo.yaml

test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-all: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-demo:
	rm -rf runs/demo
