"""``sql``: a custom read-only query returning one value, compared with ``op`` and ``value``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import compare, result
from airflow_sales_provider.checks.sqlguard import select_problems
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.checks.validation import COMPARATORS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Sql(CheckType):
    name = "sql"
    fields = ("sql", "op", "value", "parameters")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        params: dict[str, Any] = {}
        sql = raw.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            v.add("sql", f"must be a non-empty SELECT returning one value, got {sql!r}")
        else:
            for problem in select_problems(sql):
                v.add("sql", problem)
            params["sql"] = sql.strip().rstrip(";").strip()
        op = raw.get("op")
        if op not in COMPARATORS:
            v.add("op", f"must be one of {' '.join(COMPARATORS)}, got {op!r}")
        params["op"] = op
        if raw.get("value") is None:
            v.add("value", "is required (the value the query's result is compared with)")
        params["value"] = v.scalar(raw, "value")
        params["parameters"] = v.parameters(raw)
        v.placeholders("sql", params.get("sql"), params["parameters"])
        return params

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        p = item.check.params
        item.query = build.user_query(item.check.name, p["sql"], p["parameters"])

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        passed = own is not None and compare(own, p["op"], p["value"])
        return result(check, own, f"{p['op']} {p['value']}", passed)
