"""Check results: JSON-safe values, pass/warn/fail, the XCom summary, a log table, the failure message."""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.spec import Partition

#: XCom key the operator pushes its results under (read by the Slack notifier).
XCOM_KEY = "data_quality"
_MAX_TEXT = 200
#: status spellings a reader of the XCom accepts (the operator writes passed / warned / failed).
_STATUS_SPELLINGS = {
    **dict.fromkeys(("failed", "fail", "error", "errored"), "failed"),
    **dict.fromkeys(("warned", "warn", "warning"), "warned"),
    **dict.fromkeys(("passed", "pass", "ok", "success", "succeeded"), "passed"),
}


def json_safe(value: Any) -> Any:
    """A small JSON-serialisable version of a database value (Decimal -> int/float, dates -> ISO text)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value[:_MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)[:_MAX_TEXT]


def numeric(value: Any) -> float | None:
    """A float for numbers (``None`` otherwise): what the history table stores as ``value``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    check: str
    column: str | None
    observed: Any
    expected: str
    passed: bool
    severity: str
    #: the number recorded in history (and read back by ``change`` checks).
    value: float | None = None

    @property
    def status(self) -> str:
        if self.passed:
            return "passed"
        return "warned" if self.severity == "warn" else "failed"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], index: int = 0) -> CheckResult:
        """Read one entry of the XCom's ``checks`` (what :meth:`as_dict` wrote, or a looser shape)."""
        check = str(raw.get("check") or "")
        column = raw.get("column")
        name = raw.get("name") or "_".join(str(p) for p in (check, column) if p) or f"check_{index + 1}"
        severity = str(raw.get("severity") or "fail")
        status = _STATUS_SPELLINGS.get(str(raw.get("status") or "").strip().lower())
        if status is None:
            passed = bool(raw.get("passed", True))
            status = "passed" if passed else "warned" if severity.lower().startswith("warn") else "failed"
        return cls(
            name=str(name),
            check=check,
            column=None if column is None else str(column),
            observed=raw.get("observed"),
            expected=raw.get("expected"),  # type: ignore[arg-type]
            passed=status == "passed",
            severity={"warned": "warn", "failed": "fail"}.get(status, severity),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "check": self.check,
            "column": self.column,
            "observed": json_safe(self.observed),
            "expected": self.expected,
            "passed": self.passed,
            "severity": self.severity,
            "status": self.status,
        }


def summarize(table: str, partition: Partition | None, results: Sequence[CheckResult]) -> dict[str, Any]:
    """The dict pushed to XCom under :data:`XCOM_KEY` and returned by the operator."""
    statuses = [r.status for r in results]
    failed = statuses.count("failed")
    return {
        "table": table,
        "partition": (
            {"column": partition.column, "value": json_safe(partition.value)} if partition else None
        ),
        "passed": failed == 0,
        "summary": {
            "total": len(results),
            "passed": statuses.count("passed"),
            "failed": failed,
            "warned": statuses.count("warned"),
        },
        "checks": [r.as_dict() for r in results],
    }


def show(value: Any) -> str:
    """A value as a person reads it in a log line (dicts as ``k=v``)."""
    value = json_safe(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={show(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.6g}"
    return "NULL" if value is None else str(value)


def format_table(results: Sequence[CheckResult]) -> str:
    """A fixed-width table: status, check name, type, column, observed, expected."""
    header = ("status", "name", "check", "column", "observed", "expected")
    rows = [
        (r.status.upper(), r.name, r.check, r.column or "", _clip(show(r.observed)), _clip(r.expected))
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def failure_message(summary: dict[str, Any], status: str = "failed") -> str:
    """Every check with ``status``, observed vs expected, one per line."""
    partition = summary["partition"]
    where = f" ({partition['column']} = {partition['value']})" if partition else ""
    counts = summary["summary"]
    listed = [c for c in summary["checks"] if c["status"] == status]
    lines = [
        f"- {c['name']} [{c['check']}{' on ' + c['column'] if c['column'] else ''}]: "
        f"observed {show(c['observed'])}, expected {c['expected']}"
        for c in listed
    ]
    return (
        f"{len(listed)} of {counts['total']} data-quality checks {status} on {summary['table']}{where}:\n"
        + "\n".join(lines)
    )


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
