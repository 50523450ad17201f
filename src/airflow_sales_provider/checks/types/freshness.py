"""``freshness``: the newest value of a timestamp/date column is at most ``max_age`` old; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.results import numeric
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.checks.validation import parse_duration
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Freshness(CheckType):
    name = "freshness"
    fields = ("column", "max_age")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"column": v.identifier(raw, "column")}
        if "max_age" not in raw:
            v.add("max_age", "is required (seconds, or e.g. '36 hours', '1 day', '90m')")
            return params
        seconds = parse_duration(raw["max_age"])
        if seconds is None:
            v.add("max_age", f"must be positive seconds or e.g. '36 hours', '1 day', got {raw['max_age']!r}")
        params["max_age_seconds"] = seconds
        params["max_age"] = str(raw["max_age"])
        return params

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        column = quote_identifier(item.check.params["column"], "column")
        age = build.dialect.age_seconds_sql.replace("{expr}", "{}")  # measured by the database clock
        item.scan_columns["latest"] = build.scan(f"max({column})", "max")
        item.scan_columns["age_seconds"] = build.scan(f"max({column})", "max", age)

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        age = numeric(scan["age_seconds"])
        seconds = f"{p['max_age_seconds']:g} s"
        described = seconds if p["max_age"] in (seconds[:-2], seconds) else f"{p['max_age']} ({seconds})"
        expected = f"newest row at most {described} old"
        observed = {"latest": scan["latest"], "age_seconds": round(age, 1) if age is not None else None}
        return result(check, observed, expected, age is not None and age <= p["max_age_seconds"], age)
