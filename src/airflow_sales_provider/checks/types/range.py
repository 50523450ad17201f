"""``range``: ``min(column) >= min`` and/or ``max(column) <= max``; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import bounds_text, compare, result
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Range(CheckType):
    name = "range"
    fields = ("column", "columns", "min", "max")
    per_column = True

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        minimum, maximum = v.bounds(raw, integer=False)
        return {"min": minimum, "max": maximum}

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        p = item.check.params
        column = quote_identifier(p["column"], "column")
        if p.get("min") is not None:
            item.scan_columns["min"] = build.scan(f"min({column})", "min")
        if p.get("max") is not None:
            item.scan_columns["max"] = build.scan(f"max({column})", "max")

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        observed: Any = {k: scan[k] for k in ("min", "max") if k in scan}
        ok = (scan.get("min") is None or compare(scan["min"], ">=", p["min"])) and (
            scan.get("max") is None or compare(scan["max"], "<=", p["max"])
        )
        if len(observed) == 1:
            observed = next(iter(observed.values()))
        return result(check, observed, "values " + bounds_text(p["min"], p["max"]), ok)
