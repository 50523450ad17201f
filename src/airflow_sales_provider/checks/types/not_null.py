"""``not_null``: NULLs in a column at most ``max_nulls`` (default 0) and/or ``max_null_pct``; in the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class NotNull(CheckType):
    name = "not_null"
    fields = ("column", "columns", "max_nulls", "max_null_pct")
    per_column = True

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        max_nulls = v.number(raw, "max_nulls", integer=True, minimum=0)
        max_null_pct = v.number(raw, "max_null_pct", minimum=0)
        if max_null_pct is not None and max_null_pct > 100:
            v.add("max_null_pct", "is a percentage: use 0 to 100")
        if max_nulls is None and max_null_pct is None:
            max_nulls = 0
        return {"max_nulls": max_nulls, "max_null_pct": max_null_pct}

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        column = quote_identifier(item.check.params["column"], "column")
        item.scan_columns["rows"] = build.scan("count(*)", "count")
        item.scan_columns["non_null"] = build.scan(f"count({column})", "count")

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        rows = scan["rows"] or 0
        nulls = rows - (scan["non_null"] or 0)
        pct = (100.0 * nulls / rows) if rows else 0.0
        ok = (p["max_nulls"] is None or nulls <= p["max_nulls"]) and (
            p["max_null_pct"] is None or pct <= p["max_null_pct"]
        )
        parts = []
        if p["max_nulls"] is not None:
            parts.append(f"<= {p['max_nulls']} nulls")
        if p["max_null_pct"] is not None:
            parts.append(f"<= {p['max_null_pct']:g}% nulls")
        observed: Any = nulls if p["max_null_pct"] is None else {"nulls": nulls, "null_pct": round(pct, 4)}
        return result(check, observed, " and ".join(parts), ok, nulls)
