"""The daily sales pipeline's SQL: one statement per file, valid for PostgreSQL and Redshift (sqlglot).

Each file is rendered as Airflow renders it (the ``sales_pipeline`` Variable's schema through the DAG's
``sql_identifier`` filter), then parsed in both dialects; the report query in Athena's (Trino's).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import sqlglot

from airflow_sales_provider.sql.identifiers import InvalidIdentifierError, quote_identifier

SQL = Path(__file__).resolve().parents[3] / "examples" / "dags" / "sql" / "daily_sales"
WAREHOUSE_FILES = sorted(p for step in ("ddl", "clean", "aggregate") for p in (SQL / step).glob("*.sql"))


def render(path: Path, schema: str = "sales") -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["sql_identifier"] = quote_identifier
    var = SimpleNamespace(json=SimpleNamespace(sales_pipeline={"schema": schema}))
    ti = SimpleNamespace(xcom_pull=lambda task_ids: {"etag": "9dd4e461268c8034f5c8564e155c67a6"})
    return env.from_string(path.read_text()).render(var=var, ds="2024-03-01", ti=ti)


def test_every_step_has_its_files():
    assert {p.parent.name for p in WAREHOUSE_FILES} == {"ddl", "clean", "aggregate"}
    assert len(WAREHOUSE_FILES) >= 15


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
@pytest.mark.parametrize("path", [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in WAREHOUSE_FILES])
def test_warehouse_sql_is_one_statement_in_both_dialects(path, dialect):
    # Bound parameters (%(ds)s) are the driver's; sqlglot reads them as placeholders.
    statements = [s for s in sqlglot.parse(render(path), read=dialect) if s is not None]
    assert len(statements) == 1, f"{path.name}: {len(statements)} statements"
    assert '"sales"' in statements[0].sql(dialect=dialect), "the schema is quoted"


def test_values_are_bound_never_rendered():
    for path in WAREHOUSE_FILES:
        text = path.read_text()
        assert "{{ ds" not in text, f"{path.name}: the day must be the bound %(ds)s"


def test_a_schema_that_is_not_an_identifier_is_refused():
    with pytest.raises(InvalidIdentifierError):
        render(SQL / "clean" / "02_delete_clean.sql", schema="sales; DROP TABLE x")


def test_report_query_parses_as_athena_sql():
    (statement,) = sqlglot.parse(render(SQL / "report" / "daily_store_report.sql"), read="athena")
    assert statement is not None
    assert "2024-03-01" in statement.sql(dialect="trino")


def test_report_query_names_the_lake_object_it_reads():
    """The ETag is in the query text, so a rerun on changed data gets a new Athena client request token."""
    assert "9dd4e461268c8034f5c8564e155c67a6" in render(SQL / "report" / "daily_store_report.sql")
