# The two commands of the README: `make demo` and `make test`. Both install what is missing
# (system programs, the virtualenv, the locked Python dependencies, the Kafka jars on first
# start) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-unit test-integration lint typecheck services-up services-down lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock scripts/bootstrap-system.sh
	bash scripts/bootstrap-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "uv==0.13.9"
	$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	$(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e .
	touch $(STAMP)

demo: setup
	$(VENV)/bin/fraudscore demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

services-up: setup
	$(VENV)/bin/fraudscore services up

services-down: setup
	$(VENV)/bin/fraudscore services down

test-unit: setup
	$(VENV)/bin/pytest tests/unit -q

test: lint typecheck services-up
	$(VENV)/bin/pytest -q

lock:
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra fast --extra docker --python-version 3.11 -q -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
