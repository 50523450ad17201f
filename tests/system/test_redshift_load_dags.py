"""The loader's DAGs end to end with dag.test(): templates rendered, XCom contract, rerun idempotency."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]

DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)


def test_example_dag_loads_the_day_and_a_rerun_changes_nothing(airflow_db, sandbox, warehouse):
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="sales-raw")
    s3.put_object(
        Bucket="sales-raw",
        Key="sales/2024-03-01/part-1.csv",
        Body=b"sale_id,store_id,sale_date,amount,updated_at\n1,1,2024-03-01,10,\n2,2,2024-03-01,20,\n",
    )
    s3.put_object(
        Bucket="sales-raw",
        Key="stores/2024-03-01/stores.csv",
        Body=(
            b"store_id,name,updated_at\n1,Old,2024-03-01 08:00\n1,New,2024-03-01 09:00\n"
            b"2,Two,2024-03-01 08:00\n"
        ),
    )
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sales, stores, sales_load_ledger")
    try:
        snapshots = []
        for _ in range(2):
            result = run_dag("example_redshift_load", "example_redshift_load.py", DAY)
            assert result.state == "success", result.task_states
            with warehouse.cursor() as cur:
                cur.execute("SELECT sale_id, sale_date::text, amount::int FROM sales ORDER BY 1")
                sales = cur.fetchall()
                cur.execute("SELECT store_id, name FROM stores ORDER BY 1")
                snapshots.append((sales, cur.fetchall()))
        assert (
            snapshots[0]
            == snapshots[1]
            == ([(1, "2024-03-01", 10), (2, "2024-03-01", 20)], [(1, "New"), (2, "Two")])
        )
    finally:
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS sales, stores, sales_load_ledger")


def test_string_rendered_sensor_xcom_is_parsed(airflow_db, sandbox, warehouse):
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket="sales-raw")
    s3.put_object(Bucket="sales-raw", Key="xcom/2024-03-01/a.csv", Body=b"sale_id,amount\n1,5\n2,6\n")
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS xcom_sales, sales_load_ledger")
        cur.execute("CREATE TABLE xcom_sales (sale_id int NOT NULL, sale_date date NOT NULL, amount int)")
    try:
        result = run_dag("sales_redshift_load_xcom", "sales_redshift_load_xcom.py", DAY)
        assert result.state == "success", result.task_states
        with warehouse.cursor() as cur:
            cur.execute("SELECT sale_id, sale_date::text, amount FROM xcom_sales ORDER BY 1")
            assert cur.fetchall() == [(1, "2024-03-01", 5), (2, "2024-03-01", 6)]
            cur.execute("SELECT s3_key, row_count, run_id FROM sales_load_ledger")
            assert cur.fetchall() == [("xcom/2024-03-01/a.csv", 2, result.run_id)]
    finally:
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS xcom_sales, sales_load_ledger")
