"""Declarative data-quality checks: the spec, its validation, the SQL compiler and the results.

Pure logic (no Airflow, no connection): :func:`parse_spec` validates a spec, :func:`compile_checks`
turns it into one aggregate scan plus the few queries that cannot share it, :func:`evaluate` turns
the rows into results. :class:`~airflow_sales_provider.operators.data_quality.DataQualityOperator`
runs them.
"""

from __future__ import annotations

from airflow_sales_provider.checks.compiler import Plan, Query, compile_checks
from airflow_sales_provider.checks.evaluate import evaluate
from airflow_sales_provider.checks.results import XCOM_KEY, CheckResult, format_table, summarize
from airflow_sales_provider.checks.spec import (
    CHECK_TYPES,
    Check,
    Partition,
    SpecError,
    load_spec,
    parse_partition,
    parse_spec,
)

__all__ = [
    "CHECK_TYPES",
    "XCOM_KEY",
    "Check",
    "CheckResult",
    "Partition",
    "Plan",
    "Query",
    "SpecError",
    "compile_checks",
    "evaluate",
    "format_table",
    "load_spec",
    "parse_partition",
    "parse_spec",
    "summarize",
]
