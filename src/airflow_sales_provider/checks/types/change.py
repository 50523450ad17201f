"""``change``: a metric against the mean of its last passing values in history; shares the scan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import aggregate_or_zero, result, tolerance_text, within_tolerance
from airflow_sales_provider.checks.results import numeric
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.checks.types.reconcile import metric_name, scan_metric

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Change(CheckType):
    name = "change"
    fields = ("function", "column", "lookback", "min_history", "tolerance", "tolerance_pct")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        function = v.function(raw, default="count")
        params: dict[str, Any] = {"function": function}
        params["column"] = v.identifier(raw, "column", required=function != "count")
        params["tolerance"], params["tolerance_pct"] = v.tolerance(raw, required=True)
        params["lookback"] = v.number(raw, "lookback", integer=True, minimum=1) or 5
        params["min_history"] = v.number(raw, "min_history", integer=True, minimum=1) or 1
        if not history:
            v.add(None, "a change check needs history: set history=True (or a history table name)")
        return params

    def default_name(self, params: Mapping[str, Any]) -> str:
        return metric_name(self.name, params)

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        scan_metric(item, build)

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        value = numeric(aggregate_or_zero(p["function"], scan["value"]))
        history = list(baseline)[: p["lookback"]]
        expected = (
            f"within {tolerance_text(p['tolerance'], p['tolerance_pct'])} of the mean of the last "
            f"{p['lookback']} passing runs (needs >= {p['min_history']})"
        )
        if len(history) < p["min_history"]:
            observed: dict[str, Any] = {"value": value, "baseline": None, "runs": len(history)}
            return result(check, observed, expected, True, value)
        mean = sum(history) / len(history)
        diff = abs((value or 0.0) - mean)
        ok = value is not None and within_tolerance(diff, mean, p["tolerance"], p["tolerance_pct"])
        change_pct = round(100.0 * diff / abs(mean), 3) if mean else None
        observed = {
            "value": value,
            "baseline": round(mean, 6),
            "runs": len(history),
            "change_pct": change_pct,
        }
        return result(check, observed, expected, ok, value)
