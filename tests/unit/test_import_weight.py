"""Importing our operators, sensors, notifier and triggers must not pull in the heavy client libraries.

A DAG file that imports them is parsed every ~30 s on MWAA: boto3, botocore, aiobotocore, slack_sdk,
database drivers and provider hooks are imported inside the methods that use them.
"""

from __future__ import annotations

import json
import subprocess
import sys

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
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    offenders = sorted(
        {name for name in imported for heavy in HEAVY if name == heavy or name.startswith(heavy + ".")}
    )
    assert offenders == [], f"importing the provider's public modules imported: {offenders}"
