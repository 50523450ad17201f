"""Declarative data-quality checks: the spec, its validation, the SQL compiler and the results.

Pure logic (no Airflow, no connection): :func:`parse_spec` validates a spec, :func:`compile_checks`
turns it into one aggregate scan plus the few queries that cannot share it, :func:`evaluate` turns
the rows into results; each check type is one module of :mod:`airflow_sales_provider.checks.types`.
:class:`~airflow_sales_provider.operators.data_quality.DataQualityOperator` runs them.

The spec's names are imported when first used: a DAG file that imports the operator (which needs only
:data:`XCOM_KEY`) does not pay for the spec parser and every check type at each parse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import Plan, Query, compile_checks
from airflow_sales_provider.checks.evaluate import evaluate
from airflow_sales_provider.checks.results import XCOM_KEY, CheckResult, format_table, summarize

if TYPE_CHECKING:
    from airflow_sales_provider.checks.spec import (
        CHECK_TYPES,
        Check,
        Partition,
        SpecError,
        load_spec,
        parse_partition,
        parse_spec,
    )

#: imported from ``checks.spec`` (and with it every check type) when first used
_FROM_SPEC = frozenset(
    {"CHECK_TYPES", "Check", "Partition", "SpecError", "load_spec", "parse_partition", "parse_spec"}
)


def __getattr__(name: str) -> Any:
    if name not in _FROM_SPEC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.spec"), name)
    globals()[name] = value
    return value


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
