"""Data-aware scheduling end to end: a load with ``emit_asset=True`` creates the report DAG's run.

The upstream run is a real ``dag.test()`` run of the real loader; the downstream run is created by the
scheduler's own handling of the asset event it emitted (tests/system/assets.py says how), then run.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.system.assets import (
    create_asset_triggered_runs,
    dag_runs,
    register_dag_file,
    run_existing_dag_run,
    triggering_events,
)
from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]

DAY = datetime(2024, 3, 1, tzinfo=timezone.utc)
CSV = (
    b"sale_date,store_id,orders,units,revenue,refunds\n"
    b"2024-03-01,1,3,5,100.50,0\n2024-03-01,2,1,1,20.25,4.00\n"
)
# The daily sales pipeline's own DDL of its aggregate (examples/dags/sql/daily_sales/ddl/), schema "sales".
DDL = """CREATE TABLE IF NOT EXISTS sales.daily_store_sales (
    sale_date date NOT NULL, store_id integer NOT NULL, orders integer NOT NULL, units integer NOT NULL,
    revenue numeric(14, 2) NOT NULL, refunds numeric(14, 2) NOT NULL, PRIMARY KEY (sale_date, store_id))"""


@pytest.fixture
def daily_store_sales(sandbox, warehouse):
    """The aggregate table (shared with the pipeline's tests: only this test's day is touched)."""
    s3 = sandbox.boto3_client("s3")
    for bucket in ("sales-curated", "reports"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="sales-curated", Key="aggregates/daily_store_sales/2024-03-01/part-1.csv", Body=CSV)
    with warehouse.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS sales")
        cur.execute(DDL)
        cur.execute("DROP TABLE IF EXISTS sales.lineage_test_ledger")
        cur.execute("DELETE FROM sales.daily_store_sales WHERE sale_date = '2024-03-01'")
    yield s3
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sales.lineage_test_ledger")
        cur.execute("DELETE FROM sales.daily_store_sales WHERE sale_date = '2024-03-01'")


def _asset_uri(sandbox) -> str:
    postgres = sandbox.postgres
    return f"postgres://{postgres.host}:{postgres.port}/{postgres.database}/sales/daily_store_sales"


def test_the_load_creates_the_report_run(airflow_db, sandbox, warehouse, daily_store_sales):
    # As the DAG processor would have: both DAGs, their asset references and the loader's alias are known.
    register_dag_file("sales_daily_upstream.py", unpause=[])
    register_dag_file("sales_daily_report.py", unpause=["sales_daily_report"])
    before = {r.run_id for r in dag_runs("sales_daily_report")}

    upstream = run_dag("sales_daily_upstream", "sales_daily_upstream.py", DAY)
    assert upstream.state == "success", upstream.task_states
    assert {r.run_id for r in dag_runs("sales_daily_report")} == before  # dag.test() alone creates none

    create_asset_triggered_runs()
    (created,) = [r for r in dag_runs("sales_daily_report") if r.run_id not in before]
    assert str(getattr(created.run_type, "value", created.run_type)) in (
        "asset_triggered",
        "dataset_triggered",
    )
    assert triggering_events("sales_daily_report", created.run_id) == [
        (_asset_uri(sandbox), "sales_daily_upstream", upstream.run_id)
    ]

    downstream = run_existing_dag_run("sales_daily_report", "sales_daily_report.py", created.run_id)
    assert downstream.state == "success", downstream.task_states
    report = daily_store_sales.get_object(Bucket="reports", Key="finance/daily_revenue.csv")["Body"].read()
    with warehouse.cursor() as cur:  # other days may be there, written by the pipeline's own tests
        cur.execute("SELECT sale_date::text, sum(revenue) FROM sales.daily_store_sales GROUP BY 1 ORDER BY 1")
        expected = "sale_date,revenue\n" + "".join(f"{day},{revenue}\n" for day, revenue in cur.fetchall())
    assert "2024-03-01,120.75\n" in expected
    assert report.decode() == expected
