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
CSV = b"sale_date,store_id,revenue\n2024-03-01,1,100.50\n2024-03-01,2,20.25\n"


@pytest.fixture
def sales_daily(sandbox, warehouse):
    s3 = sandbox.boto3_client("s3")
    for bucket in ("sales-curated", "reports"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="sales-curated", Key="aggregates/sales_daily/2024-03-01/part-1.csv", Body=CSV)
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sales_daily, sales_load_ledger")
        cur.execute("CREATE TABLE sales_daily (sale_date date NOT NULL, store_id int, revenue numeric(12,2))")
    yield s3
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sales_daily, sales_load_ledger")


def _asset_uri(sandbox) -> str:
    postgres = sandbox.postgres
    return f"postgres://{postgres.host}:{postgres.port}/{postgres.database}/public/sales_daily"


def test_the_load_creates_the_report_run(airflow_db, sandbox, sales_daily):
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
    report = sales_daily.get_object(Bucket="reports", Key="finance/sales_daily.csv")["Body"].read()
    assert report == b"sale_date,revenue\n2024-03-01,120.75\n"
