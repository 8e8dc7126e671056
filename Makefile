# Two commands on a fresh machine with Python >= 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact version of everything pip installs, tools included: `make lock` refreshes it.
CONSTRAINTS := constraints.txt
# Every Python pingd claims (requires-python >= 3.11, and each minor version since).
PYTHONS ?= 3.11 3.12 3.13
# The tests that run in-process and quickly; `make test-units` runs them on each of PYTHONS.
UNIT_TESTS := tests/pingd tests/pingctl tests/packaging
# make test measures branch coverage (pyproject.toml: [tool.coverage]); COVERAGE=no skips it.
COVERAGE ?= yes
# As root, the suite runs in two workers (pytest-xdist), each in a network namespace of its own
# (tests/support/isolation.py): most tests wait on daemons, not on the CPU. Without root, one.
WORKERS ?= $(shell [ "$$(id -u)" = 0 ] && echo 2 || echo 0)
# The suite runs outside make: none of this make's command-line variables may reach the makes
# that tests start in turn (debian/rules, in the package tests, has a VENV and a PYTHON too).
OUTSIDE_MAKE := env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL

.PHONY: demo test test-pythons test-units lint lint-lock lint-ruff lint-format lint-types fmt lock hooks \
	mutate bench docs deb install uninstall clean venv

# The interpreter for Python $(1): python$(1) on PATH, else pyenv's (whose shim answers only for
# the versions pyenv has selected, unless PYENV_VERSION names one). Prints its real path.
find_python = { python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| PYENV_VERSION=$(1) python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null; }

venv: $(STAMP)

# Made anew whenever the ranges or the pins change, so that what is installed is exactly the
# lock and nothing left over; then every installed package must be pinned there.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pingd needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	@if [ -f $(VENV)/pyvenv.cfg ]; then echo "rm -rf $(VENV)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,dev]'
	@! $(BIN)/python -m pip freeze --exclude-editable | grep -vxF -f $(CONSTRAINTS) \
		| sed 's/^/installed but not pinned in $(CONSTRAINTS) (run make lock): /' | grep .
	@touch $@

demo: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/python packaging/demo.py

LINTED := pingd pingctl bench tests packaging/demo.py packaging/manpages.py

# The suite under coverage, daemons and pingctl processes included; the report fails below
# [tool.coverage.report] fail_under.
# Bytecode first, as an installed pingd has it: the suite starts hundreds of pingd and
# pingctl processes, and with PYTHONDONTWRITEBYTECODE set each would compile them anew.
test: lint
	@$(BIN)/python -m compileall -q pingd pingctl tests/support
ifeq ($(COVERAGE),no)
	$(OUTSIDE_MAKE) $(BIN)/python -m pytest -n $(WORKERS) $(PYTEST_ARGS)
else
	@rm -f .coverage .coverage.*
	$(OUTSIDE_MAKE) $(BIN)/python -m coverage run -m pytest -n $(WORKERS) $(PYTEST_ARGS)
	@$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report
endif

# The whole of make test on every Python in PYTHONS, each in its own environment (.venv-3.12 ...);
# every one runs, and the Pythons it failed on are named at the end.
test-pythons:
	@failed=; for v in $(PYTHONS); do \
		py=$$($(call find_python,$$v)) || { echo "no Python $$v here (python$$v, or pyenv's $$v)"; exit 2; }; \
		echo "=== make test on Python $$v ($$py)"; \
		$(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test failed on Python$$failed"; exit 1; fi

# The unit tests (UNIT_TESTS) on every Python in PYTHONS, each in its own environment; every
# one runs, and the Pythons they failed on are named at the end.
test-units:
	@failed=; for v in $(PYTHONS); do \
		py=$$($(call find_python,$$v)) || { echo "no Python $$v here (python$$v, or pyenv's $$v)"; exit 2; }; \
		echo "=== unit tests on Python $$v ($$py)"; \
		$(MAKE) --no-print-directory venv PYTHON=$$py VENV=.venv-$$v || exit 2; \
		echo ".venv-$$v/bin/python -m pytest $(UNIT_TESTS) $(PYTEST_ARGS)"; \
		$(OUTSIDE_MAKE) .venv-$$v/bin/python -m pytest $(UNIT_TESTS) $(PYTEST_ARGS) || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "the unit tests failed on Python$$failed"; exit 1; fi

# The habits: ruff (lint and format check) and mypy, configured in pyproject.toml, at the
# versions constraints.txt pins; .pre-commit-config.yaml runs these same targets.
lint: lint-lock lint-ruff lint-format lint-types

# packaging/requirements.txt is derived from constraints.txt (make lock): every pin in it must
# be the lock's.
lint-lock:
	@! grep -v -e '^#' -e '^$$' packaging/requirements.txt | grep -vxF -f $(CONSTRAINTS) \
		| sed 's/^/packaging\/requirements.txt pins what $(CONSTRAINTS) does not (run make lock): /' | grep .

lint-ruff: $(STAMP)
	$(BIN)/ruff check $(LINTED)

lint-format: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)

lint-types: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

# Mutation testing of the pure core ([tool.mutmut] in pyproject.toml says which modules and
# tests), from scratch: fails if a mutant survives that tests/mutation/equivalent.txt does not
# list as equivalent. About 3 minutes on 2 cores.
MUTATE_JOBS ?= 2

MUTATE_VENV := .venv-mutate

mutate: $(STAMP)
	test -x $(MUTATE_VENV)/bin/mutmut || { $(PYTHON) -m venv $(MUTATE_VENV) \
		&& $(MUTATE_VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,mutate]'; }
	rm -rf mutants
	$(MUTATE_VENV)/bin/mutmut run --max-children $(MUTATE_JOBS)
	$(MUTATE_VENV)/bin/python tests/mutation/check.py

# The git hook: make lint's checks before each commit (.pre-commit-config.yaml).
hooks: $(STAMP)
	$(BIN)/pre-commit install

# constraints.txt anew: the newest releases within pyproject.toml's ranges (runtime, test and
# dev), resolved in a throwaway environment on each of PYTHONS, which must all agree; then
# packaging/requirements.txt, the Debian package's pins, as the runtime part of that lock.
LOCK_DIR := build/lock
lock:
	@set -e; rm -rf $(LOCK_DIR); mkdir -p $(LOCK_DIR); \
	for v in $(PYTHONS); do \
		py=$$($(call find_python,$$v)) || { echo "no Python $$v here (python$$v, or pyenv's $$v)"; exit 2; }; \
		echo "=== resolving on Python $$v ($$py)"; \
		$$py -m venv $(LOCK_DIR)/$$v; \
		$(LOCK_DIR)/$$v/bin/python -m pip install --quiet --upgrade pip; \
		$(LOCK_DIR)/$$v/bin/python -m pip install --quiet -e '.[test,dev]'; \
		{ $(LOCK_DIR)/$$v/bin/python -m pip freeze --all --exclude-editable | grep '^pip=='; \
		  $(LOCK_DIR)/$$v/bin/python -m pip freeze --exclude-editable; } > $(LOCK_DIR)/$$v.txt; \
	done; \
	first=$$(echo $(PYTHONS) | cut -d' ' -f1); \
	for v in $(PYTHONS); do \
		diff -u $(LOCK_DIR)/$$first.txt $(LOCK_DIR)/$$v.txt \
			|| { echo "Python $$first and $$v resolve differently: pin the differing package in pyproject.toml"; exit 1; }; \
	done; \
	{ echo "# Generated by make lock from pyproject.toml's ranges, the same on Python $(PYTHONS);"; \
	  echo "# every environment the Makefile makes installs exactly these. Do not edit by hand."; \
	  cat $(LOCK_DIR)/$$first.txt; } > $(CONSTRAINTS); \
	$$($(call find_python,$$first)) -m venv $(LOCK_DIR)/runtime; \
	$(LOCK_DIR)/runtime/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e .; \
	{ echo "# What the Debian package installs into /usr/lib/pingd: pingd's dependencies, pinned (the"; \
	  echo "# versions the test suite runs with), so a package built twice holds the same code."; \
	  echo "# Generated by make lock: the runtime part of constraints.txt. Do not edit by hand."; \
	  $(LOCK_DIR)/runtime/bin/python -m pip freeze --exclude-editable; } > packaging/requirements.txt; \
	rm -rf $(LOCK_DIR); \
	git --no-pager diff --stat -- $(CONSTRAINTS) packaging/requirements.txt 2>/dev/null || true

bench: $(STAMP)
	$(BIN)/python -m bench

# The option tables of the documents, made anew from the commands' own options as the man pages
# are (packaging/manpages.py); a test fails when one is not what the commands say.
DOCUMENTS := README.md CONTRIBUTING.md CHANGELOG.md $(wildcard docs/*.md)
docs: $(STAMP)
	$(BIN)/python packaging/manpages.py --markdown $(DOCUMENTS)

# The Debian package, in build/deb/ (packaging/build-deb: Debian's tooling, dh-virtualenv).
deb:
	packaging/build-deb $(if $(DEB_VERSION),--version $(DEB_VERSION))

# Other distributions: a virtual environment in /opt/pingd and the units in /etc/systemd/system.
install:
	packaging/install

uninstall:
	packaging/install --uninstall

clean:
	rm -rf $(VENV) $(foreach v,$(PYTHONS),.venv-$(v)) build dist *.egg-info .pytest_cache .coverage .coverage.* mutants $(MUTATE_VENV)
