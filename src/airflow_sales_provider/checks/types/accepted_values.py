"""``accepted_values``: every non-NULL value of a column is one of ``values``; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.checks.validation import SCALAR_TYPES
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class AcceptedValues(CheckType):
    name = "accepted_values"
    fields = ("column", "values", "max_violations")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"column": v.identifier(raw, "column")}
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            v.add("values", f"must be a non-empty list of accepted values, got {values!r}")
        else:
            for i, item in enumerate(values):
                if isinstance(item, bool) or not isinstance(item, SCALAR_TYPES):
                    v.add(f"values[{i}]", f"must be a number, string or date, got {item!r}")
            params["values"] = list(values)
        params["max_violations"] = v.count_limit(raw, "max_violations")
        return params

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        p = item.check.params
        column = quote_identifier(p["column"], "column")
        placeholders = ", ".join(build.bind(value) for value in p["values"])
        outside = f"count(CASE WHEN {column} NOT IN ({placeholders}) THEN 1 END)"
        item.scan_columns["violations"] = build.scan(outside, "count")

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        shown = ", ".join(map(str, p["values"][:10])) + (", ..." if len(p["values"]) > 10 else "")
        violations = scan["violations"] or 0
        expected = f"<= {p['max_violations']} rows with values outside [{shown}]"
        return result(check, violations, expected, violations <= p["max_violations"])
