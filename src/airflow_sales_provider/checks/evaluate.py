"""Turn the rows the queries returned into :class:`~airflow_sales_provider.checks.results.CheckResult` s.

Pure: the operator runs the :class:`~airflow_sales_provider.checks.compiler.Plan`'s queries and hands
the scan row, each own query's scalar and the ``change`` baselines read from history to :func:`evaluate`.
"""

from __future__ import annotations

import datetime
import decimal
import operator
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.results import CheckResult, json_safe, numeric

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, Plan
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


def _bounds(minimum: Any, maximum: Any, unit: str = "") -> str:
    suffix = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None:
        return f"between {minimum} and {maximum}{suffix}"
    if minimum is not None:
        return f">= {minimum}{suffix}"
    return f"<= {maximum}{suffix}"


def _within(minimum: Any, maximum: Any, observed: Any) -> bool:
    if minimum is not None and not compare(observed, ">=", minimum):
        return False
    return maximum is None or compare(observed, "<=", maximum)


def _tolerance_text(tolerance: float | None, tolerance_pct: float | None) -> str:
    parts = []
    if tolerance is not None:
        parts.append(f"{tolerance:g}")
    if tolerance_pct is not None:
        parts.append(f"{tolerance_pct:g}%")
    return " and ".join(parts) if parts else "0"


def _within_tolerance(diff: float, reference: float, tolerance: float | None, pct: float | None) -> bool:
    if tolerance is None and pct is None:
        return diff == 0
    if tolerance is not None and diff > tolerance:
        return False
    return not (pct is not None and diff > abs(reference) * pct / 100)


def _aggregate_or_zero(function: str, value: Any) -> Any:
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
            results.append(_result(check, {"error": errors[check.name]}, "query succeeds", False))
            continue
        values = {role: row.get(alias) for role, alias in item.scan_columns.items()}
        results.append(_evaluate_one(item, values, own.get(check.name), baselines.get(check.name, ())))
    return results


def _result(check: Check, observed: Any, expected: str, passed: bool, value: Any = None) -> CheckResult:
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


def _evaluate_one(item: CompiledCheck, v: dict[str, Any], own: Any, baseline: Sequence[float]) -> CheckResult:
    check, p = item.check, item.check.params
    t = check.type
    if t == "row_count":
        rows = v["rows"] or 0
        return _result(check, rows, _bounds(p["min"], p["max"], "rows"), _within(p["min"], p["max"], rows))
    if t == "not_null":
        rows, nulls = v["rows"] or 0, (v["rows"] or 0) - (v["non_null"] or 0)
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
        return _result(check, observed, " and ".join(parts), ok, nulls)
    if t == "accepted_values":
        shown = ", ".join(map(str, p["values"][:10])) + (", ..." if len(p["values"]) > 10 else "")
        violations = v["violations"] or 0
        expected = f"<= {p['max_violations']} rows with values outside [{shown}]"
        return _result(check, violations, expected, violations <= p["max_violations"])
    if t == "range":
        observed = {k: v[k] for k in ("min", "max") if k in v}
        ok = (v.get("min") is None or compare(v["min"], ">=", p["min"])) and (
            v.get("max") is None or compare(v["max"], "<=", p["max"])
        )
        if len(observed) == 1:
            observed = next(iter(observed.values()))
        return _result(check, observed, "values " + _bounds(p["min"], p["max"]), ok)
    if t == "freshness":
        age = numeric(v["age_seconds"])
        seconds = f"{p['max_age_seconds']:g} s"
        described = seconds if p["max_age"] in (seconds[:-2], seconds) else f"{p['max_age']} ({seconds})"
        expected = f"newest row at most {described} old"
        observed = {"latest": v["latest"], "age_seconds": round(age, 1) if age is not None else None}
        return _result(check, observed, expected, age is not None and age <= p["max_age_seconds"], age)
    if t == "expression":
        violations = v["violations"] or 0
        expected = f"<= {p['max_violations']} rows where NOT ({p['expression']})"
        return _result(check, violations, expected, violations <= p["max_violations"])
    if t == "unique":
        duplicates = own or 0
        expected = f"<= {p['max_duplicates']} duplicate rows on ({', '.join(p['columns'])})"
        return _result(check, duplicates, expected, duplicates <= p["max_duplicates"])
    if t == "distinct_count":
        distinct = (v["distinct"] if "distinct" in v else own) or 0
        expected = _bounds(p["min"], p["max"], "distinct values")
        return _result(check, distinct, expected, _within(p["min"], p["max"], distinct))
    if t == "relationships":
        orphans = own or 0
        parent = ".".join(x for x in (*p["to"], p["field"]) if x)
        expected = f"<= {p['max_orphans']} values missing from {parent}"
        return _result(check, orphans, expected, orphans <= p["max_orphans"])
    if t == "sql":
        return _result(
            check, own, f"{p['op']} {p['value']}", own is not None and compare(own, p["op"], p["value"])
        )
    if t == "reconcile":
        here = _aggregate_or_zero(p["function"], v["value"])
        against = p["against"]
        there = _aggregate_or_zero(against.get("function", "sum"), own) if "table" in against else own
        target = ".".join(x for x in against["table"] if x) if "table" in against else "the 'against' query"
        expected = f"within {_tolerance_text(p['tolerance'], p['tolerance_pct'])} of {target}"
        here_n, there_n = numeric(here), numeric(there)
        if here_n is None or there_n is None:
            ok = here is None and there is None
            observed = {"value": here, "against": there}
        else:
            diff = abs(here_n - there_n)
            ok = _within_tolerance(diff, there_n, p["tolerance"], p["tolerance_pct"])
            observed = {"value": here, "against": there, "difference": round(diff, 6)}
        return _result(check, observed, expected, ok, here)
    if t == "change":
        value = numeric(_aggregate_or_zero(p["function"], v["value"]))
        history = list(baseline)[: p["lookback"]]
        expected = (
            f"within {_tolerance_text(p['tolerance'], p['tolerance_pct'])} of the mean of the last "
            f"{p['lookback']} passing runs (needs >= {p['min_history']})"
        )
        if len(history) < p["min_history"]:
            observed = {"value": value, "baseline": None, "runs": len(history)}
            return _result(check, observed, expected, True, value)
        mean = sum(history) / len(history)
        diff = abs((value or 0.0) - mean)
        ok = value is not None and _within_tolerance(diff, mean, p["tolerance"], p["tolerance_pct"])
        change_pct = round(100.0 * diff / abs(mean), 3) if mean else None
        observed = {
            "value": value,
            "baseline": round(mean, 6),
            "runs": len(history),
            "change_pct": change_pct,
        }
        return _result(check, observed, expected, ok, value)
    raise ValueError(f"unknown check type {t!r}")  # pragma: no cover
