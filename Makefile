# One command each: `make run` sets everything up and runs the main job on the embedded default;
# `make test` sets everything up and runs the whole test suite (.ci/run calls exactly that).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# SQLMesh (review only) gets an environment of its own: it cannot be imported beside dagster-dbt's sqlglotc.
REVIEW_VENV ?= .venv-sqlmesh
REVIEW_STAMP := $(REVIEW_VENV)/.installed

.PHONY: install system-deps run test test-fast ui lint clean-state

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

$(REVIEW_STAMP): tools/sqlmesh-requirements.txt
	@test -x $(REVIEW_VENV)/bin/python || $(PYTHON) -m venv $(REVIEW_VENV)
	$(REVIEW_VENV)/bin/python -m pip install --quiet -r tools/sqlmesh-requirements.txt
	@touch $(REVIEW_STAMP)

install: $(STAMP) $(REVIEW_STAMP)

run: install
	$(BIN)/safecity run

# The production-profile tests start a real PostgreSQL (the Iceberg catalog); a fresh machine lacks the server.
# The UI browser test (tests/orchestration/test_ui_browser.py) drives Debian's headless Chromium via chromedriver;
# its screenshots show the UI's Chinese names only with a CJK font (WenQuanYi Zen Hei), else as empty boxes.
# Quick when they are there; `make run` does not need them (the embedded default has no server, no browser).
system-deps:
	@missing=""; \
	compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/chromedriver || missing="$$missing chromium-driver"; \
	test -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || missing="$$missing fonts-wqy-zenhei"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "system-deps: missing Debian packages:$$missing; installing them (apt-get)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "system-deps: the tests need the Debian packages:$$missing" >&2; \
		echo "  (PostgreSQL server binaries in /usr/lib/postgresql/*/bin, /usr/bin/chromium, /usr/bin/chromedriver," >&2; \
		echo "  the WenQuanYi Zen Hei font)." >&2; \
		echo "  Install them as root: apt-get install --no-install-recommends$$missing, then re-run." >&2; \
		exit 1; \
	fi

test: install system-deps
	$(BIN)/python -m pytest

# While working: everything but the tests marked slow (CI and `make test` run them all).
test-fast: install system-deps
	$(BIN)/python -m pytest -m "not slow"

ui: $(STAMP)
	$(BIN)/safecity ui

clean-state:
	rm -rf var
