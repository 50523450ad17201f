"""``reconcile``: an aggregate here against the same of another table (or a query), within a tolerance.

This side's aggregate shares the scan; the other side is a query of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import Binder, Query, aggregate_sql, where
from airflow_sales_provider.checks.evaluate import aggregate_or_zero, result, tolerance_text, within_tolerance
from airflow_sales_provider.checks.results import numeric
from airflow_sales_provider.checks.sqlguard import select_problems
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.checks.validation import Validator
from airflow_sales_provider.sql.identifiers import (
    InvalidIdentifierError,
    parse_qualified,
    quote_identifier,
    quote_qualified,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check

_AGAINST_FIELDS = ("table", "function", "column", "partition_column", "sql", "parameters")
#: how per-group values of an aggregate combine (``None``: they cannot, see the grouped scan)
COMBINABLE = {"count": "count", "sum": "sum", "min": "min", "max": "max"}


def metric_name(check_type: str, params: Mapping[str, Any]) -> str:
    """``reconcile_sum_amount``, ``change_count``: the default name of a metric check."""
    column = params.get("column")
    return f"{check_type}_{params.get('function', 'count')}" + (f"_{column}" if column else "")


def scan_metric(item: CompiledCheck, build: PlanBuilder) -> None:
    """The check's ``function(column)`` as a column of the shared scan (role ``value``)."""
    p = item.check.params
    aggregate = aggregate_sql(p["function"], p.get("column"))
    item.scan_columns["value"] = build.scan(aggregate, COMBINABLE.get(p["function"]))


class Reconcile(CheckType):
    name = "reconcile"
    fields = ("function", "column", "against", "tolerance", "tolerance_pct")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        function = v.function(raw, default="sum")
        params: dict[str, Any] = {"function": function}
        params["column"] = v.identifier(raw, "column", required=function != "count")
        params["tolerance"], params["tolerance_pct"] = v.tolerance(raw, required=False)
        if raw.get("tolerance") is None and raw.get("tolerance_pct") is None:
            params["tolerance"] = 0
        params["against"] = _validate_against(raw.get("against"), v, function, params["column"])
        return params

    def default_name(self, params: Mapping[str, Any]) -> str:
        return metric_name(self.name, params)

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        scan_metric(item, build)
        against = item.check.params["against"]
        if "sql" in against:
            item.query = build.user_query(item.check.name, against["sql"], against.get("parameters") or {})
            return
        binder = Binder()
        conditions: list[str] = []
        if build.partition is not None and against.get("partition_column"):
            column = quote_identifier(against["partition_column"], "partition_column")
            conditions.append(f"{column} = {binder.bind(build.partition.value, 'partition_')}")
        aggregate = aggregate_sql(against["function"], against.get("column"))
        source = quote_qualified(*against["table"], what="against.table")
        sql = f"SELECT {aggregate} FROM {source}{where(conditions)}"
        item.query = Query(item.check.name, sql, binder.parameters)

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        here = aggregate_or_zero(p["function"], scan["value"])
        against = p["against"]
        there = aggregate_or_zero(against.get("function", "sum"), own) if "table" in against else own
        target = ".".join(x for x in against["table"] if x) if "table" in against else "the 'against' query"
        expected = f"within {tolerance_text(p['tolerance'], p['tolerance_pct'])} of {target}"
        here_n, there_n = numeric(here), numeric(there)
        if here_n is None or there_n is None:
            ok = here is None and there is None
            observed: dict[str, Any] = {"value": here, "against": there}
        else:
            diff = abs(here_n - there_n)
            ok = within_tolerance(diff, there_n, p["tolerance"], p["tolerance_pct"])
            observed = {"value": here, "against": there, "difference": round(diff, 6)}
        return result(check, observed, expected, ok, here)


def _validate_against(raw: Any, parent: Validator, function: str, column: str | None) -> dict[str, Any]:
    """The other side: a table (same function and column unless given) or a query."""
    v = Validator(parent.problems, f"{parent.where}.against")
    if not isinstance(raw, dict):
        v.add(None, "is required: a mapping with 'table' (plus 'function'/'column') or 'sql'")
        return {}
    for key in raw:
        if key not in _AGAINST_FIELDS:
            v.add(str(key), f"unknown field (allowed: {', '.join(_AGAINST_FIELDS)})")
    if ("table" in raw) == ("sql" in raw):
        v.add(None, "give exactly one of 'table' or 'sql'")
        return {}
    if "sql" in raw:
        sql = raw["sql"]
        if not isinstance(sql, str) or not sql.strip():
            v.add("sql", f"must be a non-empty SELECT returning one value, got {sql!r}")
            return {}
        for problem in select_problems(sql):
            v.add("sql", problem)
        parameters = v.parameters(raw)
        v.placeholders("sql", sql, parameters)
        return {"sql": sql.strip().rstrip(";").strip(), "parameters": parameters}
    out: dict[str, Any] = {}
    try:
        out["table"] = parse_qualified(raw["table"], "table")
    except InvalidIdentifierError as exc:
        v.add("table", str(exc))
    out["function"] = v.function(raw, default=function)
    if raw.get("column") is None and column is not None:
        out["column"] = column
    else:
        out["column"] = v.identifier(raw, "column", required=out["function"] != "count")
    out["partition_column"] = v.identifier(raw, "partition_column", required=False)
    return out
