"""``unique``: no duplicate values of a column or composite key (NULL key parts ignored); its own query.

Nothing runs at all when an enforced unique index or constraint covers the key (PostgreSQL: one
catalog lookup for all ``unique`` checks, see :meth:`~.compiler.Plan.covered_by_unique_key`).
Otherwise one column costs ``count(k) - count(DISTINCT k)``, a single sort that stays fast on
high-cardinality keys (a ``GROUP BY k HAVING count(*) > 1`` hash spills to disk there: 6x slower on 5 M
keys). A composite key is first proved unique by the distinct count of one 64-bit hash of its columns
(where the dialect has one: a sort of 8-byte values, 2-3x cheaper than grouping by the key); only when
that does not come out 0 does the exact ``GROUP BY`` (summing the surplus of the groups with more than
one row) run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_sales_provider.checks.compiler import Query
from airflow_sales_provider.checks.evaluate import result
from airflow_sales_provider.checks.types.base import CheckType
from airflow_sales_provider.sql.identifiers import quote_identifier

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_sales_provider.checks.compiler import CompiledCheck, PlanBuilder
    from airflow_sales_provider.checks.results import CheckResult
    from airflow_sales_provider.checks.spec import Check
    from airflow_sales_provider.checks.validation import Validator


class Unique(CheckType):
    name = "unique"
    fields = ("column", "columns", "max_duplicates")
    sorts = True

    def validate(self, raw: dict[str, Any], v: Validator, *, history: bool) -> dict[str, Any]:
        return {"columns": v.columns(raw), "max_duplicates": v.count_limit(raw, "max_duplicates")}

    def compile(self, item: CompiledCheck, build: PlanBuilder) -> None:
        columns = [quote_identifier(c, "column") for c in item.check.params["columns"]]
        name = item.check.name
        if len(columns) == 1:
            key = columns[0]
            item.query = build.query(name, f"count({key}) - count(DISTINCT {key})")
            return
        not_null = [f"{c} IS NOT NULL" for c in columns]
        groups = build.query(name, "count(*) AS n", not_null)
        exact = Query(
            name,
            f"SELECT coalesce(sum(n - 1), 0) FROM ({groups.sql} GROUP BY {', '.join(columns)}"
            " HAVING count(*) > 1) AS duplicates",
            groups.parameters,
        )
        if build.dialect.key_hash_sql is None:
            item.query = exact
            return
        # Equal keys hash alike, so rows - distinct hashes >= the surplus rows: 0 proves the key unique
        # (one sort of 8-byte values). Anything else (duplicates, a 64-bit collision, a column type
        # without a hash function) runs the exact count.
        hashed = build.dialect.key_hash_sql.format(columns=", ".join(columns))
        item.query = build.query(name, f"count(*) - count(DISTINCT {hashed})", not_null)
        item.confirm = exact

    def evaluate(
        self, check: Check, scan: Mapping[str, Any], own: Any, baseline: Sequence[float]
    ) -> CheckResult:
        p = check.params
        duplicates = own or 0
        expected = f"<= {p['max_duplicates']} duplicate rows on ({', '.join(p['columns'])})"
        return result(check, duplicates, expected, duplicates <= p["max_duplicates"])
