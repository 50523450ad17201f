"""Turn the rows the queries returned into :class:`~airflow_sales_provider.checks.results.CheckResult` s.

Pure: the operator runs the :class:`~airflow_sales_provider.checks.compiler.Plan`'s queries and hands
the scan row, each own query's scalar and the ``change`` baselines read from history to :func:`evaluate`,
which asks each check's type to judge it. The comparisons the types share live here.
"""

from __future__ import annotations

import datetime
import decimal
import operator
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.results import CheckResult, json_safe, numeric

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from airflow_sales_provider.checks.compiler import Plan
    from airflow_sales_provider.checks.spec import Check

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def coerce_pair(observed: Any, bound: Any) -> tuple[Any, Any]:
    """Make a database value and a spec value comparable (Decimal vs float, date vs ISO text)."""
    if (
        isinstance(observed, decimal.Decimal)
        and isinstance(bound, (int, float))
        and not isinstance(bound, bool)
    ):
        return float(observed), float(bound)
    if isinstance(bound, decimal.Decimal) and isinstance(observed, (int, float)):
        return float(observed), float(bound)
    if isinstance(observed, datetime.datetime) and isinstance(bound, (str, datetime.date)):
        parsed = datetime.datetime.fromisoformat(bound) if isinstance(bound, str) else bound
        if not isinstance(parsed, datetime.datetime):
            parsed = datetime.datetime.combine(parsed, datetime.time())
        if (observed.tzinfo is None) != (parsed.tzinfo is None):
            observed, parsed = observed.replace(tzinfo=None), parsed.replace(tzinfo=None)
        return observed, parsed
    if isinstance(observed, datetime.date) and isinstance(bound, str):
        return observed, datetime.date.fromisoformat(bound)
    if isinstance(observed, str) and isinstance(bound, (int, float, decimal.Decimal)):
        return decimal.Decimal(observed), decimal.Decimal(str(bound))
    return observed, bound


def compare(observed: Any, op: str, bound: Any) -> bool:
    """``observed <op> bound`` after :func:`coerce_pair`; incomparable values do not pass."""
    try:
        left, right = coerce_pair(observed, bound)
        return bool(_OPS[op](left, right))
    except (TypeError, ValueError, decimal.InvalidOperation):
        return False


def bounds_text(minimum: Any, maximum: Any, unit: str = "") -> str:
    suffix = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None:
        return f"between {minimum} and {maximum}{suffix}"
    if minimum is not None:
        return f">= {minimum}{suffix}"
    return f"<= {maximum}{suffix}"


def within(minimum: Any, maximum: Any, observed: Any) -> bool:
    if minimum is not None and not compare(observed, ">=", minimum):
        return False
    return maximum is None or compare(observed, "<=", maximum)


def tolerance_text(tolerance: float | None, tolerance_pct: float | None) -> str:
    parts = []
    if tolerance is not None:
        parts.append(f"{tolerance:g}")
    if tolerance_pct is not None:
        parts.append(f"{tolerance_pct:g}%")
    return " and ".join(parts) if parts else "0"


def within_tolerance(diff: float, reference: float, tolerance: float | None, pct: float | None) -> bool:
    if tolerance is None and pct is None:
        return diff == 0
    if tolerance is not None and diff > tolerance:
        return False
    return not (pct is not None and diff > abs(reference) * pct / 100)


def aggregate_or_zero(function: str, value: Any) -> Any:
    """``count``/``sum`` over no rows mean 0 (SQL gives NULL for the sum)."""
    return 0 if value is None and function in {"count", "sum", "count_distinct"} else value


def evaluate(
    plan: Plan,
    scan_row: Sequence[Any] | None,
    own: Mapping[str, Any],
    *,
    errors: Mapping[str, str] | None = None,
    baselines: Mapping[str, Sequence[float]] | None = None,
) -> list[CheckResult]:
    """Results for every check in ``plan`` (in spec order).

    :param scan_row: the one row of the scan query (in ``plan.scan_aliases`` order), if there was one.
    :param own: each own query's scalar result, by check name.
    :param errors: own queries that raised, by check name (the check fails with the error as observed).
    :param baselines: for ``change`` checks, the recent values from history (newest first).
    """
    row = dict(zip(plan.scan_aliases, scan_row or (), strict=False))
    errors = errors or {}
    baselines = baselines or {}
    results = []
    for item in plan.checks:
        check = item.check
        if check.name in errors:
            results.append(result(check, {"error": errors[check.name]}, "query succeeds", False))
            continue
        values = {role: row.get(alias) for role, alias in item.scan_columns.items()}
        baseline = baselines.get(check.name, ())
        results.append(check.definition.evaluate(check, values, own.get(check.name), baseline))
    return results


def result(check: Check, observed: Any, expected: str, passed: bool, value: Any = None) -> CheckResult:
    """A check's result; ``value`` (what history records) defaults to ``observed`` when a number."""
    return CheckResult(
        name=check.name,
        check=check.type,
        column=check.column,
        observed=json_safe(observed),
        expected=expected,
        passed=bool(passed),
        severity=check.severity,
        value=numeric(value if value is not None else observed),
    )
