"""``row_count``: rows in the table (or partition) between ``min`` and/or ``max``; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import bounds_text, result, within
from airflow_sales_provider.checks.types.base import CheckType

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class RowCount(CheckType):
    name = "row_count"
    fields = ("min", "max")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        minimum = v.number(raw, "min", integer=True, minimum=0)
        maximum = v.number(raw, "max", integer=True, minimum=0)
        if minimum is None and maximum is None and "min" not in raw and "max" not in raw:
            v.add(None, "needs 'min' and/or 'max'")
        v.ordered(minimum, maximum)
        return {"min": minimum, "max": maximum}

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        item.scan_columns["rows"] = build.scan("count(*)", "count")

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        rows = scan["rows"] or 0
        return result(check, rows, bounds_text(p["min"], p["max"], "rows"), within(p["min"], p["max"], rows))
