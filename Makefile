# Quickstart:  make demo   (run a complete bake-off on SQLite, no other services)
#              make test   (install everything the tests need and run them all)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install services data browser labelstudio compose

# The demo needs only the core; the tests add torch (pinned CPU build), Playwright, etc.
$(BIN)/.installed-core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed: $(BIN)/.installed-core
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed-core
	$(BIN)/bakeoff demo

# Each ensure script below provides one thing the tests need. When it cannot: locally it says
# so and the tests that need it skip with the reason; with CI=true (.ci/run sets it) it stops
# the build, and any test that would skip fails instead (tests/needs.py).

# PostgreSQL and Redis normally run on the machine; started here when they do not answer.
services:
	@bash .ci/ensure-postgres
	@bash .ci/ensure-redis

# The public reference data in ../shared/data (cannot be generated; see its README.md).
data:
	@bash .ci/ensure-data

# Browser tests drive Debian's Chromium; install it when we can (root).
browser:
	@PYTHON_BIN=$(BIN)/python bash .ci/ensure-chromium

# The label_studio adapter's live tests need a real Label Studio, in its own venv
# (.venv-labelstudio).
labelstudio:
	@bash .ci/ensure-labelstudio

# docker-compose.yml is validated by a Compose CLI when one can be had (no engine needed).
compose:
	@bash .ci/ensure-compose

# loadgroup: tests sharing one expensive server (xdist_group) run on one worker.
# Static checks first (ruff, mypy --strict, the import-layer contract), then every test.
test: lint services data browser labelstudio compose
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
