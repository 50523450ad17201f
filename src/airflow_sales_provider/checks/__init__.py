"""Declarative data-quality checks: the spec, its validation, the SQL compiler and the results.

Pure logic (no Airflow, no connection): :func:`parse_spec` validates a spec, :func:`compile_checks`
turns it into one aggregate scan plus the few queries that cannot share it, :func:`evaluate` turns
the rows into results; each check type is one module of :mod:`airflow_sales_provider.checks.types`.
:class:`~airflow_sales_provider.operators.data_quality.DataQualityOperator` runs them.

The spec's names are imported when first used: a DAG file that imports the operator (which needs only
:data:`XCOM_KEY`) does not pay for the spec parser and every check type at each parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# ``evaluate`` is also the name of a submodule: importing that submodule anywhere would bind the
# package's ``evaluate`` to the module and hide a lazily loaded function, so it is bound here. It costs
# one small module beside ``checks.results``, which the operator loads anyway.
from airflow_sales_provider.checks.evaluate import evaluate

if TYPE_CHECKING:
    from airflow_sales_provider.checks.compiler import Plan, Query, compile_checks
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

# Where each public name lives. They are loaded on first use (PEP 562): the operator and the Slack
# notifier read ``checks.results.XCOM_KEY`` when a DAG file imports them, which must not load the spec
# parser and the compiler (a DAG file pays every import at every parse).
_WHERE = {
    "Plan": "compiler",
    "Query": "compiler",
    "compile_checks": "compiler",
    "XCOM_KEY": "results",
    "CheckResult": "results",
    "format_table": "results",
    "summarize": "results",
    "CHECK_TYPES": "spec",
    "Check": "spec",
    "Partition": "spec",
    "SpecError": "spec",
    "load_spec": "spec",
    "parse_partition": "spec",
    "parse_spec": "spec",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
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
