"""``distinct_count``: distinct non-NULL values of a column between ``min`` and/or ``max``.

The first one in a suite folds into the shared scan by grouping it (see
:func:`~airflow_sales_provider.checks.compiler.compile_checks`); others get a ``GROUP BY`` of their own
(a sorting ``count(DISTINCT)`` would stop the scan running in parallel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import Query
from airflow_sales_provider.checks.evaluate import bounds_text, result, within
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class DistinctCount(CheckType):
    name = "distinct_count"
    fields = ("column", "min", "max")
    groups_scan = True
    sorts = True

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        column = v.identifier(raw, "column")
        minimum, maximum = v.bounds(raw, integer=True)
        return {"column": column, "min": minimum, "max": maximum}

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        quoted = quote_identifier(item.check.params["column"], "column")
        groups = build.query(item.check.name, quoted, [f"{quoted} IS NOT NULL"])
        sql = f"SELECT count(*) FROM ({groups.sql} GROUP BY {quoted}) AS d"
        item.query = Query(item.check.name, sql, groups.parameters)

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        distinct = (scan["distinct"] if "distinct" in scan else own) or 0
        expected = bounds_text(p["min"], p["max"], "distinct values")
        return result(check, distinct, expected, within(p["min"], p["max"], distinct))
