"""Validation helpers every check type shares: identifiers, numbers, durations, parameters.

A :class:`Validator` collects problems for one check (``checks[3].columns[1]: ...``) and never raises,
so :func:`~airflow_sales_provider.checks.spec.parse_spec` can report every problem of a spec at once.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, validate_identifier

SEVERITIES = ("fail", "warn")
AGGREGATE_FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
SCALAR_TYPES = (str, int, float, bool, datetime.date, datetime.datetime)
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def parse_duration(value: object) -> float | None:
    """Seconds from ``3600``, ``"90m"``, ``"1 day"``, ``"24 hours"``; ``None`` when not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds() or None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
            return seconds or None
    return None


class Validator:
    """Collects problems while normalising one check; never raises until the whole spec is seen."""

    def __init__(self, problems: list[str], where: str) -> None:
        self.problems = problems
        self.where = where

    def add(self, key: str | None, message: str) -> None:
        path = f"{self.where}.{key}" if key else self.where
        self.problems.append(f"{path}: {message}")

    def identifier(self, raw: dict[str, Any], key: str, *, required: bool = True) -> str | None:
        if key not in raw or raw[key] is None:
            if required:
                self.add(key, "is required")
            return None
        try:
            return validate_identifier(raw[key], "column")
        except InvalidIdentifierError as exc:
            self.add(key, str(exc))
            return None

    def columns(self, raw: dict[str, Any]) -> list[str]:
        has_column, has_columns = raw.get("column") is not None, raw.get("columns") is not None
        if has_column and has_columns:
            self.add(None, "give either 'column' or 'columns', not both")
            return []
        if has_column:
            column = self.identifier(raw, "column")
            return [column] if column else []
        if not has_columns:
            self.add("columns", "is required (a list of column names, or give 'column')")
            return []
        values = raw["columns"]
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not values:
            self.add("columns", f"must be a non-empty list of column names, got {raw['columns']!r}")
            return []
        out: list[str] = []
        for i, value in enumerate(values):
            try:
                out.append(validate_identifier(value, "column"))
            except InvalidIdentifierError as exc:
                self.add(f"columns[{i}]", str(exc))
        if len(set(out)) != len(out):
            self.add("columns", "lists a column more than once")
        return out

    def number(
        self, raw: dict[str, Any], key: str, *, integer: bool = False, minimum: float | None = None
    ) -> float | int | None:
        if key not in raw or raw[key] is None:
            return None
        value = raw[key]
        if isinstance(value, str) and _NUMBER.match(value.strip()):  # a rendered template: "5"
            value = float(value) if any(c in value for c in ".eE") else int(value)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            self.add(key, f"must be {kind}, got {value!r}")
            return None
        if minimum is not None and value < minimum:
            self.add(key, f"must be >= {minimum:g}, got {value!r}")
            return None
        return value

    def count_limit(self, raw: dict[str, Any], key: str) -> int:
        """A ``max_*`` allowance: a non-negative integer, 0 when not given."""
        return int(self.number(raw, key, integer=True, minimum=0) or 0)

    def bounds(self, raw: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
        """``min`` and/or ``max`` (at least one), in order: counts (``integer``) or any scalar."""
        if integer:
            minimum = self.number(raw, "min", integer=True, minimum=0)
            maximum = self.number(raw, "max", integer=True, minimum=0)
        else:
            minimum, maximum = self.scalar(raw, "min"), self.scalar(raw, "max")
        if raw.get("min") is None and raw.get("max") is None:
            self.add(None, "needs 'min' and/or 'max'")
        self.ordered(minimum, maximum)
        return minimum, maximum

    def ordered(self, minimum: Any, maximum: Any) -> None:
        """``min`` must not be above ``max`` (when both are given and comparable)."""
        try:
            if minimum is not None and maximum is not None and minimum > maximum:
                self.add(None, f"'min' ({minimum!r}) is greater than 'max' ({maximum!r})")
        except TypeError:
            self.add(None, f"'min' ({minimum!r}) and 'max' ({maximum!r}) are not of the same kind")

    def scalar(self, raw: dict[str, Any], key: str) -> Any:
        if key not in raw or raw[key] is None:
            return None
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, SCALAR_TYPES):
            self.add(key, f"must be a number, string or date, got {value!r}")
            return None
        return value

    def function(self, raw: dict[str, Any], key: str = "function", default: str = "count") -> str:
        value = raw.get(key, default)
        if value not in AGGREGATE_FUNCTIONS:
            self.add(key, f"must be one of {', '.join(AGGREGATE_FUNCTIONS)}, got {value!r}")
            return default
        return str(value)

    def parameters(self, raw: dict[str, Any], key: str = "parameters") -> dict[str, Any]:
        value = raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(key, f"must be a mapping of name to value, got {value!r}")
            return {}
        out: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                self.add(f"{key}.{name}", "parameter names must be plain identifiers")
            elif item is not None and not isinstance(item, SCALAR_TYPES):
                self.add(f"{key}.{name}", f"must be a number, string, date or null, got {item!r}")
            else:
                out[name] = item
        return out

    def placeholders(self, key: str, sql: str | None, parameters: dict[str, Any]) -> None:
        """Every ``%(name)s`` in custom SQL must be a declared parameter (or the partition value)."""
        for name in sorted(set(_PLACEHOLDER.findall(sql or ""))):
            if name not in parameters and name != "partition_value":
                self.add(key, f"uses %({name})s but 'parameters' has no {name!r}")

    def tolerance(self, raw: dict[str, Any], *, required: bool) -> tuple[float | None, float | None]:
        tol = self.number(raw, "tolerance", minimum=0)
        pct = self.number(raw, "tolerance_pct", minimum=0)
        if required and raw.get("tolerance") is None and raw.get("tolerance_pct") is None:
            self.add(None, "needs 'tolerance' (absolute) or 'tolerance_pct' (percent)")
        return tol, pct
