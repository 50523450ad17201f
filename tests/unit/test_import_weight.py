"""What a DAG file pays to import our public classes: only the provider's own light modules.

A DAG file is parsed every ~30 s on MWAA. ``benchmarks/import_cost.py`` measures the time and memory of
importing the public classes after ``import airflow.sdk`` (``import airflow`` on Airflow 2) in a fresh
process; these tests run the same imports in fresh processes and check the *set of modules* they add,
which does not depend on how busy the machine is: a module-level import that creeps back (a client
library, a provider hook, Airflow's trigger machinery, our spec parser) fails here on every line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "import_cost.py"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cost_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_cost = _load_benchmark()
# This suite's Airflow home; bytecode caches on, as an installed provider has them (and it is faster).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

HEAVY = (
    "boto3",
    "botocore",
    "aiobotocore",
    "slack_sdk",
    "psycopg",
    "psycopg2",
    "redshift_connector",
    "sqlglot",
    "moto",
    "airflow.providers.amazon.aws.hooks.base_aws",
    "airflow.providers.postgres.hooks.postgres",
)

#: Our modules a DAG file must not load: they are imported when a task runs (or defers), not at parse.
RUN_TIME_ONLY = (
    "airflow_sales_provider.triggers",  # a trigger class is imported when its task defers
    "airflow_sales_provider.lineage",  # lineage is computed when a task runs
    "airflow_sales_provider.sandbox",
    "airflow_sales_provider.checks.spec",  # the data-quality spec parser and compiler run in execute()
    "airflow_sales_provider.checks.compiler",
    # (checks.evaluate is bound by the checks package: a submodule of that name would otherwise hide
    # the function; it imports only checks.results, which the operator needs anyway, and the stdlib)
    "airflow_sales_provider.checks.history",
    "airflow_sales_provider.hooks.athena",
    "airflow_sales_provider.hooks.redshift_data",
)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def foreign(added: set[str], floor: set[str]) -> list[str]:
    """Added modules that are neither ours, nor the standard library's, nor Airflow's base classes'."""
    return sorted(
        name
        for name in added - floor
        if not _under(name, ("airflow_sales_provider",))
        and name.partition(".")[0] not in sys.stdlib_module_names
    )


def airflow_triggers(added: set[str], floor: set[str]) -> list[str]:
    return sorted(name for name in added - floor if _under(name, ("airflow.triggers",)))


def run_time_only(added: set[str]) -> list[str]:
    return sorted(name for name in added if _under(name, RUN_TIME_ONLY))


@pytest.fixture(scope="module")
def sdk_floor() -> set[str]:
    """The modules Airflow's own base classes add (any DAG file that uses an operator pays them)."""
    return import_cost.modules_added(import_cost.SDK_FLOOR, env=ENV)


@pytest.fixture(scope="module")
def added_by_public_classes() -> set[str]:
    """The modules our public classes add to a fresh ``import airflow.sdk`` (``import airflow`` on 2)."""
    return import_cost.modules_added(import_cost.OURS, env=ENV)


def test_the_benchmark_and_this_guard_import_the_issue_s_public_classes():
    names = {path.rpartition(".")[2] for path in import_cost.PUBLIC_CLASSES}
    assert names == {
        "RedshiftLoadOperator",
        "DataQualityOperator",
        "AthenaReportOperator",
        "SlackNotifier",
        "S3ArrivalSensor",
    }
    for path in import_cost.PUBLIC_CLASSES:
        module, _, name = path.rpartition(".")
        assert f"from {module} import {name}" in import_cost.OURS


def test_public_classes_add_no_module_but_ours_beyond_airflow_s_base_classes(
    added_by_public_classes, sdk_floor
):
    """Beyond the base classes they derive from, our public classes load only our modules (and stdlib).

    This is what fails when ``compat.py`` imports ``airflow.triggers.base`` at module level again
    (it brings Airflow's file, temporal and external-task triggers and pydantic serialisers), or when an
    operator imports a provider hook, a client library or any other package at module level.
    """
    assert foreign(added_by_public_classes, sdk_floor) == []
    assert airflow_triggers(added_by_public_classes, sdk_floor) == []


def test_public_classes_import_no_trigger_and_no_run_time_module(added_by_public_classes):
    """Trigger classes are imported when a task defers; lineage, spec parsing and run-time hooks on run."""
    assert run_time_only(added_by_public_classes) == []


def test_the_guard_fails_when_an_import_creeps_back(sdk_floor):
    """The probe can fail: a trigger module or a client library imported with the public classes shows."""
    added = import_cost.modules_added(
        import_cost.OURS + "import airflow_sales_provider.triggers.s3_arrival\nimport botocore.session\n",
        env=ENV,
    )
    assert "airflow_sales_provider.triggers.s3_arrival" in run_time_only(added)
    assert "botocore.session" in foreign(added, sdk_floor)
    if "airflow.triggers.base" not in sdk_floor:  # Airflow 3: the SDK's base classes do not load it
        assert "airflow.triggers.base" in airflow_triggers(added, sdk_floor)


# Measured past ``import airflow``, which every DAG file pays: Airflow 3.0.x's own import already loads
# psycopg2 (through sqlalchemy_utils) when it is installed; that is Airflow's cost, not ours.
PROBE = """
import importlib, json, pkgutil, sys
import airflow
before = set(sys.modules)
import airflow_sales_provider
for package in ("operators", "sensors", "notifications", "triggers"):
    pkg = importlib.import_module(f"airflow_sales_provider.{package}")
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_public_modules_do_not_import_heavy_clients():
    """Every operator, sensor, notifier and trigger module (the triggerer imports the latter): no client."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=ENV
    )
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    offenders = sorted({name for name in imported if _under(name, HEAVY)})
    assert offenders == [], f"importing the provider's public modules imported: {offenders}"
