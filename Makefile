# Every target sets up what it needs, so each works on a fresh machine with only Python.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Debian packages the end-to-end tests need (a real registry and a real container client, and
# age, which must open what gen-secret encrypts for it, and strace to kill a render at an exact
# system call).
E2E_PACKAGES := docker-registry skopeo apache2-utils openssl age strace
# npm packages the GitOps tests check the Flux and Argo CD objects with: the engines' schemas as
# published models (validators and TypeScript declarations) and the compiler that reads the
# declarations. Exact versions: tests/test_gitops.py says how faithful each is.
NPM_TEST_PACKAGES := @kubernetes-models/flux-cd@3.0.1 @kubernetes-models/argo-cd@4.0.0 typescript@5.9.3
NPM_TEST_DIR      := .npm-test

.PHONY: run test lint unit golden bench e2e-deps test-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Install and render the example Clusterfile to stdout.
run: $(BIN)/python
	$(BIN)/python -m pip install -q .
	$(BIN)/gen-secret render examples/Clusterfile

# Install the test needs (Python, npm and, as root, Debian packages), lint, type-check, test.
# Bytecode written even where the environment says not to: the parallel workers then share
# the test modules pytest rewrites, and the hundreds of processes the tests start share the
# package's compiled modules, instead of each compiling them again. Through env, not a
# VAR= prefix: that would run the line in sh, which the completion tests then take for the
# user's shell (shellingham looks up the process tree).
test: $(BIN)/python e2e-deps test-deps
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/ruff check generator tests hatch_build.py
	$(BIN)/ruff format --check generator tests hatch_build.py
	$(BIN)/mypy --strict generator
	$(BIN)/lint-imports
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest

# Regenerate the golden files (outputs and --help) after an intended change; review the diff.
golden: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py
	UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_inspect_match_cli.py -k help_matches_golden

# Medians against kubectl and the stack's floor; prints the README's Performance table.
# Its own venv with a regular install, as users get it (compiled bytecode, no editable hook).
bench:
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q --upgrade pip
	.venv-bench/bin/python -m pip install -q .
	.venv-bench/bin/python bench/bench.py

e2e-deps:
	@missing=""; for p in $(E2E_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: end-to-end tests will skip; install$$missing to run them"; fi; \
	fi

# Into $(NPM_TEST_DIR)/, not the repository's root: the project has no package.json of its own.
# Installed again only when the pinned list changes (the stamp file holds the list installed).
# The kubernetes-models packages declare Node >= 22; they run on Node 20, where npm only warns.
test-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "no node/npm: the GitOps schema tests will skip; install Node.js and npm to run them"; \
	elif [ "$$(cat $(NPM_TEST_DIR)/.installed 2>/dev/null)" != "$(NPM_TEST_PACKAGES)" ]; then \
	  echo "installing $(NPM_TEST_PACKAGES) into $(NPM_TEST_DIR)/"; \
	  rm -rf $(NPM_TEST_DIR) && mkdir $(NPM_TEST_DIR) && \
	  npm install --no-save --prefix $(NPM_TEST_DIR) --no-audit --no-fund --loglevel=error \
	    $(NPM_TEST_PACKAGES) >/dev/null && \
	  echo "$(NPM_TEST_PACKAGES)" > $(NPM_TEST_DIR)/.installed; \
	fi

clean:
	rm -rf $(VENV) $(NPM_TEST_DIR) .venv-bench build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
