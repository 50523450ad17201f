# Everything a fresh machine needs: Python 3.10+, make and git. Virtualenvs live in .venv/.
PYTHON ?= python3
AIRFLOW3 ?= apache-airflow>=3.0,<4
AIRFLOW2 ?= apache-airflow==2.10.5
LINES ?= af3 af2 mwaa306 mwaa2103
# Optional integrations tested on the Airflow 3 line; Airflow 2 runs the "not installed" paths.
AF3_EXTRAS ?= apache-airflow-providers-openlineage -e ".[jobs,databricks,distributed]"
PYTEST_ARGS ?=

VENV := .venv
UV := $(VENV)/tools/bin/uv
RELEASE := $(VENV)/release
# uv never downloads a Python of its own: the virtualenvs use the machine's interpreter.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help demo demo-ui demo-distributed test test-lines test-release bench dist clean venvs docs plugins-zip release-requirements

help:
	@echo "make demo   run the main pipeline end to end against the local sandbox"
	@echo "make demo-ui  the demo, then Airflow's UI on http://127.0.0.1:$(PORT) until Ctrl-C (docs/demo.md)"
	@echo "make demo-distributed  the pipeline's days on CeleryExecutor as MWAA runs it (docs/distributed.md)"
	@echo "make test   ruff, mypy and pytest on every Airflow line in LINES (docs/development.md)"
	@echo "make bench  run the benchmarks in benchmarks/"
	@echo "make dist   build the wheel and sdist into dist/, twine-check them, render deploy/mwaa's requirements"
	@echo "make plugins-zip  dist/mwaa/<version>/plugins.zip for MWAA without internet (MWAA_VERSION=$(MWAA_VERSION))"
	@echo "make docs   build the docs site into site/ (mkdocs --strict)"
	@echo "make mwaa-constraints-<version>  regenerate deploy/mwaa/constraints/<version>.txt from its pins"

$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install --quiet --disable-pip-version-check uv

# One virtualenv per Airflow line; re-created only when pyproject.toml (or the line's constraints) changes.
# What each line installs beside the package's [test] extra:
LINE_REQS_af3 = "$(AIRFLOW3)" $(AF3_EXTRAS)
LINE_REQS_af2 = "$(AIRFLOW2)" -e ".[databricks]"
# MWAA lines (docs/mwaa.md): an MWAA version's Airflow and provider pins (deploy/mwaa/pins/<version>.txt)
# under constraints generated from that Airflow release's own dependencies (deploy/mwaa/constraints/).
mwaa_reqs = -r deploy/mwaa/pins/$(1).txt -c deploy/mwaa/constraints/$(1).txt
LINE_REQS_mwaa306 = $(call mwaa_reqs,3.0.6)
LINE_REQS_mwaa2103 = $(call mwaa_reqs,2.10.3)
$(VENV)/mwaa306/.installed: deploy/mwaa/pins/3.0.6.txt deploy/mwaa/constraints/3.0.6.txt
$(VENV)/mwaa2103/.installed: deploy/mwaa/pins/2.10.3.txt deploy/mwaa/constraints/2.10.3.txt

$(VENV)/%/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/$*
	VIRTUAL_ENV=$(VENV)/$* $(UV) pip install --quiet -e ".[test]" $(LINE_REQS_$*)
	touch $@

venvs: $(foreach line,$(LINES),$(VENV)/$(line)/.installed)

# Checks that do not depend on the Airflow line run once, on ONCE_LINE: ruff (it reads no installed
# package) and the release session (below). mypy runs on the newest and the oldest Airflow API it types
# against; the MWAA lines' APIs lie between the two, and the whole suite runs on them, importing every
# module.
ONCE_LINE ?= $(firstword $(LINES))
comma := ,
MYPY_LINES ?= af3 af2

# make test runs TEST_JOBS pytest sessions at a time: one per line (its own Airflow home, its own sandbox
# on free loopback ports), and the release session. Much of a session's time is spent waiting on
# servers, DAG runs and subprocesses, so two at once pay even on 2 cores. Longest first, so that the
# short ones fill in at the end. --output-sync prints each session's output in one piece when it ends;
# the first failure fails make test (make -k test lets the others finish first).
TEST_JOBS ?= 2
TEST_SESSIONS = $(addprefix test-,$(filter $(LINES),af3 mwaa306)) $(if $(ONCE_LINE),test-release) \
	$(addprefix test-,$(filter-out af3 mwaa306,$(LINES)))

# The virtualenvs are made before the sessions start: made inside the parallel make, they would take its
# job slots and let the short sessions start before the long ones.
test: docs venvs
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-lines

test-lines: $(TEST_SESSIONS)

# The release session: tests/deploy (the wheel resolved under each MWAA version's pins) and tests/release
# (private index, fresh virtualenvs, plugins.zip, the MWAA kit), pytest marker "release", run once with
# ONCE_LINE's environment, for every Airflow line in RELEASE_LINES: each one's constraints are that
# line's installed environment. Its own Airflow home (.airflow/release). The check of the MWAA policy
# against the AWS calls the suite made (after_aws_calls) runs in ONCE_LINE's own session instead.
RELEASE_LINES ?= $(filter af3 af2,$(LINES))
test-release: $(VENV)/$(ONCE_LINE)/.installed $(RELEASE)/.installed \
		$(foreach line,$(RELEASE_LINES),$(VENV)/$(line)/.installed)
	@echo "=== release session on $(ONCE_LINE) (started $$(date -u +%H:%M:%S)): tests/deploy, tests/release ==="
	SALES_AIRFLOW_LINE=release SALES_RELEASE_LINES="$(RELEASE_LINES)" $(VENV)/$(ONCE_LINE)/bin/python -m pytest \
		tests/deploy tests/release -m "release and not after_aws_calls" $(PYTEST_ARGS)

# The example pipelines' DAGs other than the daily sales ETL (Glue + EMR, Sparkify, Databricks; pytest
# marker example_pipeline) run on these lines only; the MWAA lines run the daily sales pipeline and
# every other test (docs/development.md).
EXAMPLE_LINES ?= af3 af2

test-%: $(VENV)/%/.installed
	@echo "=== Airflow line $* (started $$(date -u +%H:%M:%S)): $(if $(filter $*,$(ONCE_LINE)),ruff$(comma) )$(if $(filter $*,$(MYPY_LINES)),mypy$(comma) )pytest ==="
	$(if $(filter $*,$(ONCE_LINE)),$(VENV)/$*/bin/ruff check src tests examples benchmarks deploy)
	$(if $(filter $*,$(MYPY_LINES)),$(VENV)/$*/bin/mypy --cache-dir .mypy_cache/$*)
	SALES_AIRFLOW_LINE=$* SALES_RELEASE_LINES="$(RELEASE_LINES)" SALES_EXAMPLE_LINES="$(EXAMPLE_LINES)" \
		$(VENV)/$*/bin/python -m pytest \
		$(if $(filter $*,$(ONCE_LINE)),-m "not release or after_aws_calls",--ignore=tests/deploy --ignore=tests/release) \
		$(PYTEST_ARGS)

# Regenerate an MWAA line's constraints: Airflow + MWAA's pins + the packages this provider needs that
# MWAA's table does not list, resolved as PyPI stood the hour that Airflow version was published.
PUBLISHED_3.0.6 := 2025-08-29T16:00:00Z
PUBLISHED_2.10.3 := 2024-11-05T11:00:00Z
mwaa-constraints-%: | $(UV)
	printf 'apache-airflow-providers-amazon[aiobotocore]\napache-airflow-providers-common-compat\nslack-sdk\n' \
		| $(UV) pip compile --quiet --no-annotate --custom-compile-command "make $@" \
		--python-version 3.11 --exclude-newer $(PUBLISHED_$*) deploy/mwaa/pins/$*.txt - \
		-o deploy/mwaa/constraints/$*.txt

demo: $(VENV)/af3/.installed
	SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python examples/demo.py

# make demo-ui: the demo's runs in Airflow's own UI, on loopback, until Ctrl-C (docs/demo.md).
PORT ?= 8080
demo-ui: $(VENV)/af3/.installed
	SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python examples/demo_ui.py --port $(PORT)

# The demo-ui browser test (af3 line) drives Debian's chromium headless; installed here when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium
# tests/distributed (af3 line) and make demo-distributed start a private redis-server (Celery's broker).
REDIS_SERVER := /usr/bin/redis-server
test-af3: | $(CHROMIUM) $(REDIS_SERVER)
$(REDIS_SERVER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server

# make demo-distributed: three days at once on a local CeleryExecutor cluster (docs/distributed.md).
demo-distributed: $(VENV)/af3/.installed | $(REDIS_SERVER)
	SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python examples/demo_distributed.py

bench: $(VENV)/af3/.installed
	@for script in benchmarks/*.py; do \
		echo "=== $$script"; SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) .airflow dist site

# Release tooling (twine, pypiserver, pip, shellcheck, mkdocs) lives in its own virtualenv, pinned.
$(RELEASE)/.installed: requirements/release.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(RELEASE)
	VIRTUAL_ENV=$(RELEASE) $(UV) pip sync --quiet requirements/release.txt
	touch $@

release-requirements: | $(UV)
	$(UV) pip compile --quiet --universal --python-version 3.10 --custom-compile-command "make $@" \
		requirements/release.in -o requirements/release.txt

# The version comes from src/airflow_sales_provider/__init__.py alone; dist/mwaa/ gets deploy/mwaa's
# requirements templates filled in with it (docs/release.md).
dist: $(RELEASE)/.installed
	rm -rf dist
	$(UV) build --quiet --out-dir dist
	$(RELEASE)/bin/twine check --strict dist/*
	$(RELEASE)/bin/python deploy/mwaa/kit.py requirements dist

MWAA_VERSION ?= 3.0.6
plugins-zip: dist
	$(RELEASE)/bin/python deploy/mwaa/kit.py plugins-zip dist --mwaa-version $(MWAA_VERSION)

docs: $(RELEASE)/.installed
	NO_MKDOCS_2_WARNING=1 $(RELEASE)/bin/mkdocs build --strict --quiet --site-dir site
