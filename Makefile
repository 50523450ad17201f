# Everything a fresh machine needs: Python 3.10+, make and git. Virtualenvs live in .venv/.
PYTHON ?= python3
AIRFLOW3 ?= apache-airflow>=3.0,<4
AIRFLOW2 ?= apache-airflow==2.10.5
LINES ?= af3 af2
# Optional integrations tested on the Airflow 3 line; Airflow 2 runs the "not installed" paths.
AF3_EXTRAS ?= apache-airflow-providers-openlineage
PYTEST_ARGS ?=

VENV := .venv
UV := $(VENV)/tools/bin/uv
# uv never downloads a Python of its own: the virtualenvs use the machine's interpreter.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help demo test bench dist clean venvs

help:
	@echo "make demo   run the main pipeline end to end against the local sandbox"
	@echo "make test   ruff, mypy and pytest on Airflow 3.x and Airflow 2.10.x"
	@echo "make bench  run the benchmarks in benchmarks/"
	@echo "make dist   build the wheel and sdist into dist/"

$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install --quiet --disable-pip-version-check uv

# One virtualenv per Airflow line; re-created only when pyproject.toml changes.
$(VENV)/af3/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/af3
	VIRTUAL_ENV=$(VENV)/af3 $(UV) pip install --quiet -e ".[test]" "$(AIRFLOW3)" $(AF3_EXTRAS)
	touch $@

$(VENV)/af2/.installed: pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/af2
	VIRTUAL_ENV=$(VENV)/af2 $(UV) pip install --quiet -e ".[test]" "$(AIRFLOW2)"
	touch $@

venvs: $(VENV)/af3/.installed $(VENV)/af2/.installed

test: $(addprefix test-,$(LINES))

test-%: $(VENV)/%/.installed
	@echo "=== Airflow line $*: ruff, mypy, pytest ==="
	$(VENV)/$*/bin/ruff check src tests examples benchmarks
	$(VENV)/$*/bin/mypy
	SALES_AIRFLOW_LINE=$* $(VENV)/$*/bin/python -m pytest $(PYTEST_ARGS)

demo: $(VENV)/af3/.installed
	SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python examples/demo.py

bench: $(VENV)/af3/.installed
	@for script in benchmarks/*.py; do \
		echo "=== $$script"; SALES_AIRFLOW_LINE=af3 $(VENV)/af3/bin/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) .airflow

dist: | $(UV)
	$(UV) build --out-dir dist
