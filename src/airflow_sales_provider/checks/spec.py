"""The data-quality spec: what a user writes, checked in full before any query runs.

A spec is a list of dicts (or YAML text / a YAML file holding that list, or a mapping with a
``checks`` key). Each dict names its ``check`` type, an optional ``name`` and ``severity``
(``fail`` by default, or ``warn``) and the fields of that type. :func:`parse_spec` validates the
whole spec and raises one :class:`SpecError` that lists every problem with its path
(``checks[3].columns[1]``), so a user fixes everything in one go. What each type accepts lives in its
module in :mod:`airflow_sales_provider.checks.types`.

Multi-column ``not_null`` and ``range`` checks are expanded to one check per column (each gets its
own result); ``unique`` over several columns is one composite-key check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.types import REGISTRY
from airflow_sales_provider.checks.validation import (
    AGGREGATE_FUNCTIONS,
    COMPARATORS,
    SCALAR_TYPES,
    SEVERITIES,
    Validator,
    parse_duration,
)
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, validate_identifier

if TYPE_CHECKING:
    from airflow_sales_provider.checks.types import CheckType

_COMMON = ("check", "name", "severity")
#: Every check type and its fields (besides ``check``, ``name`` and ``severity``).
CHECK_FIELDS: dict[str, tuple[str, ...]] = {name: kind.fields for name, kind in REGISTRY.items()}
CHECK_TYPES = tuple(CHECK_FIELDS)


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
    def definition(self) -> CheckType:
        """The check's type: its SQL and evaluation (:mod:`airflow_sales_provider.checks.types`)."""
        return REGISTRY[self.type]

    @property
    def column(self) -> str | None:
        columns = self.params.get("columns")
        if columns:
            return ", ".join(columns)
        return self.params.get("column")


def _validate_check(raw: Any, where: str, problems: list[str], history: bool) -> list[Check]:
    v = Validator(problems, where)
    if not isinstance(raw, dict):
        v.add(None, f"each check must be a mapping with a 'check' key, got {raw!r}")
        return []
    check_type = raw.get("check")
    if not isinstance(check_type, str) or check_type not in REGISTRY:
        if check_type is None:
            v.add("check", f"is required (one of: {', '.join(CHECK_TYPES)})")
        else:
            v.add("check", f"unknown check type {check_type!r} (use one of: {', '.join(CHECK_TYPES)})")
        return []
    kind = REGISTRY[check_type]
    allowed = (*_COMMON, *kind.fields)
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

    per_column = v.columns(raw) if kind.per_column else None
    params = kind.validate(raw, v, history=history)
    if per_column is None:
        return [Check(check_type, name or kind.default_name(params), severity, where, params)]
    checks = []
    for column in per_column:
        column_params = {**params, "column": column}
        check_name = f"{name}_{column}" if name and len(per_column) > 1 else name
        checks.append(
            Check(check_type, check_name or kind.default_name(column_params), severity, where, column_params)
        )
    return checks


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


__all__ = [
    "AGGREGATE_FUNCTIONS",
    "CHECK_FIELDS",
    "CHECK_TYPES",
    "COMPARATORS",
    "SCALAR_TYPES",
    "SEVERITIES",
    "Check",
    "Partition",
    "SpecError",
    "load_spec",
    "parse_duration",
    "parse_partition",
    "parse_spec",
]
