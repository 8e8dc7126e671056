# Two commands on a fresh machine with Python >= 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fmt mutate bench deb install uninstall clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pingd needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/python packaging/demo.py

LINTED := pingd pingctl bench tests packaging/demo.py packaging/manpages.py

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The habits: ruff (lint and format check) and mypy, configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml says which modules and
# tests), from scratch: fails if a mutant survives that tests/mutation/equivalent.txt does not
# list as equivalent. About 3 minutes on 2 cores.
MUTATE_JOBS ?= 2

mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS)
	$(BIN)/python tests/mutation/check.py

bench: $(STAMP)
	$(BIN)/python -m bench

# The Debian package, in build/deb/ (packaging/build-deb: Debian's tooling, dh-virtualenv).
deb:
	packaging/build-deb $(if $(DEB_VERSION),--version $(DEB_VERSION))

# Other distributions: a virtual environment in /opt/pingd and the units in /etc/systemd/system.
install:
	packaging/install

uninstall:
	packaging/install --uninstall

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache mutants
