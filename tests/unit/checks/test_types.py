"""The check-type registry: one module per type holds its fields, validation, SQL and evaluation."""

from __future__ import annotations

import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_sales_provider.checks import compile_checks, evaluate, parse_spec
from airflow_sales_provider.checks import types as check_types
from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.spec import CHECK_FIELDS, CHECK_TYPES
from airflow_sales_provider.checks.types import MODULES, REGISTRY, CheckType
from airflow_sales_provider.sql.dialects import PostgresDialect

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[3]
DOC = (REPO / "docs" / "data-quality.md").read_text()


def type_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(check_types.__path__) if m.name != "base")


def test_every_type_module_is_listed_and_registers_the_type_it_is_named_after():
    assert sorted(MODULES) == type_modules()
    assert CHECK_TYPES == MODULES
    for name in MODULES:
        kind = REGISTRY[name]
        assert type(kind).__module__ == f"airflow_sales_provider.checks.types.{name}"
        assert CHECK_FIELDS[name] == kind.fields


@pytest.mark.parametrize("name", MODULES)
def test_every_type_implements_validation_sql_and_evaluation(name):
    kind = type(REGISTRY[name])
    for method in ("validate", "compile", "evaluate"):
        assert getattr(kind, method) is not getattr(CheckType, method), f"{name} lacks {method}"
    assert not {"check", "name", "severity"} & set(kind.fields)
    assert f"### `{name}`\n" in DOC, f"docs/data-quality.md has no section for {name}"


def test_a_type_defined_twice_is_refused():
    with pytest.raises(TypeError, match="'row_count' is defined twice"):
        type("RowCountAgain", (CheckType,), {"name": "row_count", "fields": ()})


@pytest.fixture
def new_type() -> Iterator[type[CheckType]]:
    """A new type written in one place, as an extension would be: no other module changes."""

    class MaxLength(CheckType):
        name = "test_max_length"
        fields = ("column", "max")

        def validate(self, raw: dict[str, Any], v: Any, *, history: bool) -> dict[str, Any]:
            return {"column": v.identifier(raw, "column"), "max": v.number(raw, "max", integer=True)}

        def compile(self, item: Any, build: Any) -> None:
            column = item.check.params["column"]
            item.scan_columns["longest"] = build.scan(f'max(length("{column}"))', "max")

        def evaluate(self, check: Any, scan: Any, own: Any, baseline: Any) -> Any:
            longest, limit = scan["longest"] or 0, check.params["max"]
            return result(check, longest, f"<= {limit} characters", longest <= limit)

    try:
        yield MaxLength
    finally:
        REGISTRY.pop(MaxLength.name, None)


def test_a_new_type_in_one_class_is_validated_compiled_and_evaluated(new_type):
    assert isinstance(REGISTRY["test_max_length"], new_type)  # defining the class registered it
    checks = parse_spec(
        [{"check": "row_count", "min": 1}, {"check": "test_max_length", "column": "code", "max": 3}]
    )
    assert checks[1].name == "test_max_length_code"
    plan = compile_checks("t", checks, PostgresDialect())
    assert plan.scan is not None and 'max(length("code"))' in plan.scan.sql
    results = evaluate(plan, (10, 5), {})
    assert [(r.name, r.observed, r.passed) for r in results] == [
        ("row_count", 10, True),
        ("test_max_length_code", 5, False),
    ]
    with pytest.raises(ValueError, match=r"checks\[0\]\.max: must be an integer"):
        parse_spec([{"check": "test_max_length", "column": "code", "max": "long"}])


def test_package_evaluate_stays_the_function_once_the_types_load_its_module():
    """``checks.evaluate`` names a function and a submodule: loading the submodule must not hide it."""
    import importlib
    import types

    import airflow_sales_provider.checks as checks

    importlib.import_module("airflow_sales_provider.checks.types")  # imports checks.evaluate
    assert not isinstance(checks.evaluate, types.ModuleType)
    assert checks.evaluate is importlib.import_module("airflow_sales_provider.checks.evaluate").evaluate
