"""``expression``: a per-row SQL condition; counts the rows where it is false; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import escape_percent
from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.sqlguard import fragment_problems
from airflow_sales_provider.checks.types.base import CheckType

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Expression(CheckType):
    name = "expression"
    fields = ("expression", "max_violations")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        params: dict[str, Any] = {}
        expression = raw.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            v.add("expression", f"must be a non-empty SQL condition, got {expression!r}")
        else:
            for problem in fragment_problems(expression):
                v.add("expression", problem)
            params["expression"] = expression.strip()
        params["max_violations"] = v.count_limit(raw, "max_violations")
        return params

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        condition = escape_percent(item.check.params["expression"])
        violations = f"count(CASE WHEN NOT ({condition}) THEN 1 END)"
        item.scan_columns["violations"] = build.scan(violations, "count")

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        violations = scan["violations"] or 0
        expected = f"<= {p['max_violations']} rows where NOT ({p['expression']})"
        return result(check, violations, expected, violations <= p["max_violations"])
