"""RedshiftLoadOperator against the sandbox: moto S3 as the source, the embedded PostgreSQL as the warehouse."""

from __future__ import annotations

import gzip
import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_sales_provider.operators.redshift_load import LoadError, RedshiftLoadOperator
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import LoadConfigError

pytestmark = pytest.mark.integration

BUCKET = "sales-raw"
HEADER = "sale_id,store_id,sale_date,amount,updated_at\n"


def context(run_id: str = "manual__1", try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="sales_load", run_id=run_id, try_number=try_number, task_id="load")
    return {"ti": ti, "run_id": run_id}


def csv_body(rows: list[tuple[Any, ...]], header: str = HEADER) -> bytes:
    return (header + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


@pytest.fixture
def s3(sandbox):
    client = sandbox.boto3_client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sales_table(warehouse):
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")
        cur.execute("DROP TABLE IF EXISTS public.sales")
        cur.execute(
            "CREATE TABLE public.sales (sale_id integer NOT NULL, store_id integer NOT NULL, "
            "sale_date date NOT NULL, amount numeric(12,2), updated_at timestamp, "
            "inserted_at timestamp DEFAULT now())"
        )
    yield "sales"
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.sales")
        cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")


def rows(warehouse, sql: str = "SELECT sale_id, store_id, sale_date::text, amount::text FROM sales ORDER BY 1, 2"):
    with warehouse.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def ledger(warehouse):
    return rows(warehouse, "SELECT s3_key, row_count, run_id FROM sales_load_ledger ORDER BY s3_key")


def loader(**kwargs: Any) -> RedshiftLoadOperator:
    defaults: dict[str, Any] = {
        "task_id": "load",
        "table": "sales",
        "schema": "public",
        "s3_bucket": BUCKET,
        "redshift_conn_id": "warehouse_default",
    }
    return RedshiftLoadOperator(**{**defaults, **kwargs})


class TestAppend:
    def test_loads_then_skips_loaded_files(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="d/a.csv", Body=csv_body([(1, 1, "2024-03-01", "10.50", "")]))
        s3.put_object(Bucket=BUCKET, Key="d/b.csv", Body=csv_body([(2, 1, "2024-03-01", "5", "")]))
        result = loader(s3_prefix="d/").execute(context())
        assert result["rows_loaded"] == 2
        assert result["files_loaded"] == ["d/a.csv", "d/b.csv"]
        assert result["files_skipped"] == 0
        again = loader(s3_prefix="d/").execute(context("manual__2"))
        assert again["rows_loaded"] == 0 and again["files_skipped"] == 2
        assert rows(warehouse) == [(1, 1, "2024-03-01", "10.50"), (2, 1, "2024-03-01", "5.00")]
        assert ledger(warehouse) == [("d/a.csv", 1, "manual__1"), ("d/b.csv", 1, "manual__1")]
