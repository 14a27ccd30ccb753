# The two set-up commands: `make run` (the main job) and `make test` (the suite).
# Both create .venv with the project installed if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
WORKDIR ?= runs/reproduce
# Experiments at once, each in its own process: compiling is single-threaded.
JOBS ?= 2

.PHONY: run test lint format venv clean docs

# The test extra includes the experiments extra: all that `make test` and `make run` need,
# at the exact versions of requirements/constraints.txt.
CONSTRAINTS := requirements/constraints.txt

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m experiments.reproduce --workdir $(WORKDIR) --profile $(PROFILE) --jobs $(JOBS)

test: $(VENV)/.installed lint
	$(PY) -m pytest -n 2 -q --durations=15 tests

lint: $(VENV)/.installed
	$(PY) -m ruff check genjax experiments tests benchmarks
	$(PY) -m ruff format --check genjax experiments tests benchmarks

format: $(VENV)/.installed
	$(PY) -m ruff check --fix genjax experiments tests benchmarks
	$(PY) -m ruff format genjax experiments tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# The documentation site (mkdocs, strict) in site/, after checking that every rendered
# number in README.md and docs/ matches the committed results.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[docs]'
	touch $@

docs: $(VENV)/.docs-installed
	$(PY) -m experiments.render_docs --check
	$(PY) -m mkdocs build --strict -d site
