"""``relationships``: every non-NULL value of a column exists in a parent table's field.

Folded into the shared scan by left-joining the parent's distinct values (one pass over the table
instead of two); on its own (``fold_joins=False``, e.g. when the folded scan failed) a ``NOT EXISTS``
anti-join.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.sql.identifiers import (
    InvalidIdentifierError,
    parse_qualified,
    quote_identifier,
    quote_qualified,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Relationships(CheckType):
    name = "relationships"
    fields = ("column", "to", "field", "max_orphans")

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"column": v.identifier(raw, "column"), "field": v.identifier(raw, "field")}
        if raw.get("to") is None:
            v.add("to", "is required (the parent table, 'table' or 'schema.table')")
        else:
            try:
                params["to"] = parse_qualified(raw["to"], "to")
            except InvalidIdentifierError as exc:
                v.add("to", str(exc))
        params["max_orphans"] = v.count_limit(raw, "max_orphans")
        return params

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        p = item.check.params
        column = quote_identifier(p["column"], "column")
        parent = quote_qualified(*p["to"], what="to")
        field = quote_identifier(p["field"], "field")
        if build.fold_joins:  # one pass over the table for the scan and the relationship
            key = build.join(parent, field, column)
            orphans = f"count(CASE WHEN {column} IS NOT NULL AND {key} IS NULL THEN 1 END)"
            item.scan_columns["orphans"] = build.scan(orphans, "count")
            return
        child = "c." + column
        orphan = f"NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.{field} = {child})"
        item.query = build.query(item.check.name, "count(*)", [f"{child} IS NOT NULL"], "c", [orphan])

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        orphans = (scan["orphans"] if "orphans" in scan else own) or 0
        parent = ".".join(x for x in (*p["to"], p["field"]) if x)
        expected = f"<= {p['max_orphans']} values missing from {parent}"
        return result(check, orphans, expected, orphans <= p["max_orphans"])
