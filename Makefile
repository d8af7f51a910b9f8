# Quickstart:  make demo   (run a complete bake-off on SQLite, no other services)
#              make test   (install everything the tests need and run them all)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install browser

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/bakeoff demo

# Browser tests drive Debian's Chromium; install it when we can (root), else they skip.
browser:
	@bash .ci/ensure-chromium

test: $(BIN)/.installed browser
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
