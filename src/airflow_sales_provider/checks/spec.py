"""The data-quality spec: what a user writes, checked in full before any query runs.

A spec is a list of dicts (or YAML text / a YAML file holding that list, or a mapping with a
``checks`` key). Each dict names its ``check`` type, an optional ``name`` and ``severity``
(``fail`` by default, or ``warn``) and the fields of that type. :func:`parse_spec` validates the
whole spec and raises one :class:`SpecError` that lists every problem with its path
(``checks[3].columns[1]``), so a user fixes everything in one go.

Multi-column ``not_null`` and ``range`` checks are expanded to one check per column (each gets its
own result); ``unique`` over several columns is one composite-key check.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_sales_provider.checks.sqlguard import fragment_problems, select_problems
from airflow_sales_provider.sql.identifiers import (
    InvalidIdentifierError,
    parse_qualified,
    validate_identifier,
)

SEVERITIES = ("fail", "warn")
AGGREGATE_FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
_COMMON = ("check", "name", "severity")

#: Every check type and its fields (besides ``check``, ``name`` and ``severity``).
CHECK_FIELDS: dict[str, tuple[str, ...]] = {
    "row_count": ("min", "max"),
    "not_null": ("column", "columns", "max_nulls", "max_null_pct"),
    "unique": ("column", "columns", "max_duplicates"),
    "accepted_values": ("column", "values", "max_violations"),
    "range": ("column", "columns", "min", "max"),
    "distinct_count": ("column", "min", "max"),
    "freshness": ("column", "max_age"),
    "relationships": ("column", "to", "field", "max_orphans"),
    "expression": ("expression", "max_violations"),
    "sql": ("sql", "op", "value", "parameters"),
    "reconcile": ("function", "column", "against", "tolerance", "tolerance_pct"),
    "change": ("function", "column", "lookback", "min_history", "tolerance", "tolerance_pct"),
}
CHECK_TYPES = tuple(CHECK_FIELDS)
_AGAINST_FIELDS = ("table", "function", "column", "partition_column", "sql", "parameters")
_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|weeks?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SCALAR_TYPES = (str, int, float, bool, datetime.date, datetime.datetime)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class SpecError(ValueError):
    """The spec has problems; ``problems`` lists each as ``"<path>: <what is wrong>"``."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"data-quality spec{where} has {len(problems)} problem{'s' if len(problems) != 1 else ''}:\n"
            f"{lines}"
        )


@dataclass(frozen=True)
class Partition:
    """Restrict every check to ``column = value`` (the value is always a bound parameter)."""

    column: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "value": self.value}


@dataclass(frozen=True)
class Check:
    """One validated check. ``params`` holds the type's normalised fields."""

    type: str
    name: str
    severity: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        columns = self.params.get("columns")
        if columns:
            return ", ".join(columns)
        return self.params.get("column")


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


class _Validator:
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

    def tolerance(self, raw: dict[str, Any], *, required: bool) -> tuple[float | None, float | None]:
        tol = self.number(raw, "tolerance", minimum=0)
        pct = self.number(raw, "tolerance_pct", minimum=0)
        if required and raw.get("tolerance") is None and raw.get("tolerance_pct") is None:
            self.add(None, "needs 'tolerance' (absolute) or 'tolerance_pct' (percent)")
        return tol, pct


def _default_name(check_type: str, params: dict[str, Any]) -> str:
    columns = params.get("columns")
    column = "_".join(columns) if columns else params.get("column")
    if check_type in {"reconcile", "change"}:
        function = params.get("function", "count")
        return f"{check_type}_{function}" + (f"_{column}" if column else "")
    if check_type == "relationships":
        return f"relationships_{column}"
    return f"{check_type}_{column}" if column else check_type


def _validate_check(raw: Any, where: str, problems: list[str], history: bool) -> list[Check]:
    v = _Validator(problems, where)
    if not isinstance(raw, dict):
        v.add(None, f"each check must be a mapping with a 'check' key, got {raw!r}")
        return []
    check_type = raw.get("check")
    if not isinstance(check_type, str) or check_type not in CHECK_FIELDS:
        if check_type is None:
            v.add("check", f"is required (one of: {', '.join(CHECK_TYPES)})")
        else:
            v.add("check", f"unknown check type {check_type!r} (use one of: {', '.join(CHECK_TYPES)})")
        return []
    allowed = (*_COMMON, *CHECK_FIELDS[check_type])
    for key in raw:
        if key not in allowed:
            v.add(str(key), f"unknown field for check type {check_type!r} (allowed: {', '.join(allowed)})")
    severity = raw.get("severity", "fail")
    if severity not in SEVERITIES:
        v.add("severity", f"must be 'fail' or 'warn', got {severity!r}")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        v.add("name", f"must be a non-empty string of at most 200 characters, got {name!r}")
        name = None

    params: dict[str, Any] = {}
    per_column: list[str] | None = None
    if check_type == "row_count":
        params["min"] = v.number(raw, "min", integer=True, minimum=0)
        params["max"] = v.number(raw, "max", integer=True, minimum=0)
        if params["min"] is None and params["max"] is None and "min" not in raw and "max" not in raw:
            v.add(None, "needs 'min' and/or 'max'")
        v.ordered(params["min"], params["max"])
    elif check_type == "not_null":
        per_column = v.columns(raw)
        params["max_nulls"] = v.number(raw, "max_nulls", integer=True, minimum=0)
        params["max_null_pct"] = v.number(raw, "max_null_pct", minimum=0)
        if params["max_null_pct"] is not None and params["max_null_pct"] > 100:
            v.add("max_null_pct", "is a percentage: use 0 to 100")
        if params["max_nulls"] is None and params["max_null_pct"] is None:
            params["max_nulls"] = 0
    elif check_type == "unique":
        params["columns"] = v.columns(raw)
        params["max_duplicates"] = v.number(raw, "max_duplicates", integer=True, minimum=0) or 0
    elif check_type == "accepted_values":
        params["column"] = v.identifier(raw, "column")
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            v.add("values", f"must be a non-empty list of accepted values, got {values!r}")
        else:
            for i, item in enumerate(values):
                if isinstance(item, bool) or not isinstance(item, SCALAR_TYPES):
                    v.add(f"values[{i}]", f"must be a number, string or date, got {item!r}")
            params["values"] = list(values)
        params["max_violations"] = v.number(raw, "max_violations", integer=True, minimum=0) or 0
    elif check_type == "range":
        per_column = v.columns(raw)
        params["min"] = v.scalar(raw, "min")
        params["max"] = v.scalar(raw, "max")
        if raw.get("min") is None and raw.get("max") is None:
            v.add(None, "needs 'min' and/or 'max'")
        v.ordered(params["min"], params["max"])
    elif check_type == "distinct_count":
        params["column"] = v.identifier(raw, "column")
        params["min"] = v.number(raw, "min", integer=True, minimum=0)
        params["max"] = v.number(raw, "max", integer=True, minimum=0)
        if raw.get("min") is None and raw.get("max") is None:
            v.add(None, "needs 'min' and/or 'max'")
        v.ordered(params["min"], params["max"])
    elif check_type == "freshness":
        params["column"] = v.identifier(raw, "column")
        if "max_age" not in raw:
            v.add("max_age", "is required (seconds, or e.g. '36 hours', '1 day', '90m')")
        else:
            seconds = parse_duration(raw["max_age"])
            if seconds is None:
                v.add(
                    "max_age", f"must be positive seconds or e.g. '36 hours', '1 day', got {raw['max_age']!r}"
                )
            params["max_age_seconds"] = seconds
            params["max_age"] = str(raw["max_age"])
    elif check_type == "relationships":
        params["column"] = v.identifier(raw, "column")
        params["field"] = v.identifier(raw, "field")
        if raw.get("to") is None:
            v.add("to", "is required (the parent table, 'table' or 'schema.table')")
        else:
            try:
                params["to"] = parse_qualified(raw["to"], "to")
            except InvalidIdentifierError as exc:
                v.add("to", str(exc))
        params["max_orphans"] = v.number(raw, "max_orphans", integer=True, minimum=0) or 0
    elif check_type == "expression":
        expression = raw.get("expression")
        if not isinstance(expression, str) or not expression.strip():
            v.add("expression", f"must be a non-empty SQL condition, got {expression!r}")
        else:
            for problem in fragment_problems(expression):
                v.add("expression", problem)
            params["expression"] = expression.strip()
        params["max_violations"] = v.number(raw, "max_violations", integer=True, minimum=0) or 0
    elif check_type == "sql":
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
        _check_placeholders(v, "sql", params.get("sql"), params["parameters"])
    elif check_type in {"reconcile", "change"}:
        params["function"] = v.function(raw, default="sum" if check_type == "reconcile" else "count")
        params["column"] = v.identifier(raw, "column", required=params["function"] != "count")
        params["tolerance"], params["tolerance_pct"] = v.tolerance(raw, required=check_type == "change")
        if check_type == "reconcile":
            if raw.get("tolerance") is None and raw.get("tolerance_pct") is None:
                params["tolerance"] = 0
            params["against"] = _validate_against(raw.get("against"), v, params["function"], params["column"])
        else:
            params["lookback"] = v.number(raw, "lookback", integer=True, minimum=1) or 5
            params["min_history"] = v.number(raw, "min_history", integer=True, minimum=1) or 1
            if not history:
                v.add(None, "a change check needs history: set history=True (or a history table name)")

    if per_column is not None:
        checks = []
        for column in per_column:
            column_params = {**params, "column": column}
            check_name = f"{name}_{column}" if name and len(per_column) > 1 else name
            checks.append(
                Check(
                    type=check_type,
                    name=check_name or _default_name(check_type, column_params),
                    severity=severity,
                    path=where,
                    params=column_params,
                )
            )
        return checks
    return [
        Check(
            type=check_type,
            name=name or _default_name(check_type, params),
            severity=severity,
            path=where,
            params=params,
        )
    ]


def _check_placeholders(v: _Validator, key: str, sql: str | None, parameters: dict[str, Any]) -> None:
    """Every ``%(name)s`` in custom SQL must be a declared parameter (or the partition value)."""
    for name in sorted(set(_PLACEHOLDER.findall(sql or ""))):
        if name not in parameters and name != "partition_value":
            v.add(key, f"uses %({name})s but 'parameters' has no {name!r}")


def _validate_against(raw: Any, parent: _Validator, function: str, column: str | None) -> dict[str, Any]:
    """The other side of a reconcile: a table (same function and column unless given) or a query."""
    v = _Validator(parent.problems, f"{parent.where}.against")
    if not isinstance(raw, dict):
        v.add(None, "is required: a mapping with 'table' (plus 'function'/'column') or 'sql'")
        return {}
    for key in raw:
        if key not in _AGAINST_FIELDS:
            v.add(str(key), f"unknown field (allowed: {', '.join(_AGAINST_FIELDS)})")
    if ("table" in raw) == ("sql" in raw):
        v.add(None, "give exactly one of 'table' or 'sql'")
        return {}
    if "sql" in raw:
        sql = raw["sql"]
        if not isinstance(sql, str) or not sql.strip():
            v.add("sql", f"must be a non-empty SELECT returning one value, got {sql!r}")
            return {}
        for problem in select_problems(sql):
            v.add("sql", problem)
        parameters = v.parameters(raw)
        _check_placeholders(v, "sql", sql, parameters)
        return {"sql": sql.strip().rstrip(";").strip(), "parameters": parameters}
    out: dict[str, Any] = {}
    try:
        out["table"] = parse_qualified(raw["table"], "table")
    except InvalidIdentifierError as exc:
        v.add("table", str(exc))
    out["function"] = v.function(raw, default=function)
    if raw.get("column") is None and column is not None:
        out["column"] = column
    else:
        out["column"] = v.identifier(raw, "column", required=out["function"] != "count")
    out["partition_column"] = v.identifier(raw, "partition_column", required=False)
    return out


def parse_partition(raw: Any) -> Partition | None:
    """``{"column": ..., "value": ...}`` (or ``None``) to a :class:`Partition`; errors raise SpecError."""
    if raw is None or raw == {}:
        return None
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SpecError([f"partition: must be a mapping {{'column': ..., 'value': ...}}, got {raw!r}"])
    for key in raw:
        if key not in ("column", "value"):
            problems.append(f"partition.{key}: unknown field (allowed: column, value)")
    column = raw.get("column")
    try:
        validate_identifier(column, "partition column")
    except InvalidIdentifierError as exc:
        problems.append(f"partition.column: {exc}")
    value = raw.get("value")
    if value is None or isinstance(value, bool) or not isinstance(value, SCALAR_TYPES):
        problems.append(f"partition.value: must be a number, string or date, got {value!r}")
    if problems:
        raise SpecError(problems)
    return Partition(column=str(column), value=value)


def parse_spec(raw: Any, *, history: bool = False, source: str | None = None) -> list[Check]:
    """Validate a whole spec and return its checks, or raise one :class:`SpecError` listing every problem.

    :param raw: a list of check mappings, or a mapping with a ``checks`` list.
    :param history: whether a history table is configured (``change`` checks need one).
    :param source: where the spec came from (a file name), used in the error message.
    """
    if isinstance(raw, dict) and "checks" in raw:
        extra = [k for k in raw if k != "checks"]
        if extra:
            raise SpecError([f"{k}: unknown top-level key (only 'checks')" for k in extra], source)
        raw = raw["checks"]
    if not isinstance(raw, list) or not raw:
        raise SpecError([f"checks: must be a non-empty list of checks, got {raw!r}"], source)
    problems: list[str] = []
    checks: list[Check] = []
    for i, item in enumerate(raw):
        checks.extend(_validate_check(item, f"checks[{i}]", problems, history))
    seen: dict[str, str] = {}
    for check in checks:
        if check.name in seen:
            problems.append(
                f"{check.path}.name: check name {check.name!r} is also used by {seen[check.name]}; "
                "names must be unique (give one a 'name')"
            )
        else:
            seen[check.name] = check.path
    if problems:
        raise SpecError(problems, source)
    return checks


def load_spec(checks: Any) -> tuple[Any, str | None]:
    """The raw spec from a list, YAML text, or a YAML file path; returns ``(raw, source)``.

    A templated ``.yaml``/``.yml`` field has normally been read and rendered by Airflow already (the
    operator's ``template_ext``) and arrives here as YAML text; a path that still names an existing
    file is read here. YAML errors name the line and column.
    """
    if not isinstance(checks, str):
        return checks, None
    import os

    import yaml

    text, source = checks, None
    stripped = checks.strip()
    if stripped.endswith((".yaml", ".yml")) and "\n" not in stripped:
        if not os.path.isfile(stripped):
            raise SpecError([f"checks: spec file {stripped!r} does not exist"], stripped)
        source = stripped
        with open(stripped, encoding="utf-8") as handle:
            text = handle.read()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"checks: invalid YAML at {where}{problem}"], source) from None
    return raw, source
