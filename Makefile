# Two commands for a fresh machine: `make run` starts the whole stack, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
COMPILED := $(VENV)/.compiled

.PHONY: run test lint unit integration e2e bench bench-quick bench-peers browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Bytecode for the editable install, as a wheel install would write it: every process the stack
# starts then loads src/ instead of compiling it (PYTHONDONTWRITEBYTECODE stops Python writing it).
$(COMPILED): $(STAMP) $(shell find src -name '*.py')
	$(BIN)/python -m compileall -q src
	touch $(COMPILED)

## run: the whole stack (dashboard, worker, scheduler) on the embedded Redis in ./.rqstack
run: $(COMPILED)
	$(BIN)/rqstack up

## browser: Debian's chromium for the dashboard's browser tests (never a downloaded browser)
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

## test: lint, type checks and every test tier
test: $(COMPILED) browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(COMPILED) browser
	$(BIN)/python -m pytest -q tests/e2e

## bench: rqstack against stock rq / rq-scheduler in the same run (see bench/README.md)
bench: $(COMPILED)
	$(BIN)/python -m bench

bench-quick: $(COMPILED)
	$(BIN)/python -m bench --quick

bench-peers: $(COMPILED)
	$(BIN)/python -m bench --peers

clean:
	rm -rf $(VENV) .rqstack .pytest_cache .mypy_cache .ruff_cache
