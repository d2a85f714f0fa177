# `make demo` and `make test` work on a fresh machine with Python 3.11+ and nothing else set up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo run test test-sqlite lint format migrations clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Balai Warga needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's Chromium (never a browser a tool downloads by itself).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y --no-install-recommends chromium \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }; }

demo: install
	$(BIN)/hub demo

run: install
	$(BIN)/hub run

test: install browser
	$(BIN)/python -m pytest

test-sqlite: install browser
	$(BIN)/python -m pytest -k "not postgres"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# After changing models: write the next migration (one set for SQLite and PostgreSQL).
migrations: install
	HUB_DATABASE_URL=sqlite://data/makemigrations.sqlite3 $(BIN)/tortoise makemigrations
	rm -f data/makemigrations.sqlite3*

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
