"""``daily_sales_glue_emr`` end to end against the sandbox (dag.test()).

The orchestration is real: the Glue script is uploaded to S3 and the job created and run with the day's
arguments, the EMR step is submitted to the cluster with the day's paths and the sensor sees it end,
the loader replaces the day in the warehouse, the checks run, the sandbox's Athena engine computes the
report from the registered table, Slack is told.

moto runs no Spark, so the files the EMR step would write are put in S3 by the test (:data:`AGGREGATES`,
the aggregates of :data:`RAW` as ``examples/jobs/sales_aggregation.py`` computes them; its logic is tested
with a real Spark in ``tests/unit/jobs``). Glue runs and EMR steps end as the sandbox is told
(``MotoServer.set_job_outcomes``), so the failure paths are the operators' own.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration, pytest.mark.example_pipeline]

DAG_ID, FILE = "daily_sales_glue_emr", "daily_sales_glue_emr.py"
JOBS = Path(__file__).resolve().parents[2] / "examples" / "jobs"
LAKE, ARTIFACTS, RESULTS = "sales-lake", "sales-artifacts", "athena-results"
GLUE_ROLE = "arn:aws:iam::123456789012:role/sales-glue"

RAW = {
    "store_1.csv": "Sale ID,storeId,Sold At,Category,Product,Qty,Unit Price,Updated At\n"
    "1,10,{ds} 09:00:00,toys,kite,2,4.50,\n2,10,{ds} 10:00:00,food,bread,1,1.50,\n",
    "store_2.csv": "sale_id,store_id,sold_at,category,product,quantity,unit_price,updated_at\n"
    "3,11,{ds} 11:00:00,Food,milk,3,1.50,\n",
}
AGGREGATES = {
    "daily_totals": "sale_date,orders,units,revenue,avg_order_value,stores\n{ds},3,6,15.00,5.00,2\n",
    "category_summary": "sale_date,category,orders,units,revenue,revenue_share\n"
    "{ds},toys,1,2,9.00,0.6000\n{ds},food,2,4,6.00,0.4000\n",
}


def day(offset_days: int) -> datetime:
    return datetime(2024, 3, 10, 1, tzinfo=timezone.utc) + timedelta(days=offset_days)


@pytest.fixture
def lake(sandbox, warehouse, monkeypatch):
    """Buckets, an EMR cluster, the DAG's Variable, and clean warehouse tables."""
    s3 = sandbox.boto3_client("s3")
    for bucket in (LAKE, ARTIFACTS, RESULTS):
        s3.create_bucket(Bucket=bucket)
    cluster_id = sandbox.boto3_client("emr").run_job_flow(
        Name="sales-spark",
        ReleaseLabel="emr-7.5.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "SlaveInstanceType": "m5.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    config = {
        "bucket": LAKE,
        "artifacts_bucket": ARTIFACTS,
        "glue_role_arn": GLUE_ROLE,
        "emr_cluster_id": cluster_id,
        "redshift_copy_role_arn": "arn:aws:iam::123456789012:role/redshift-copy",
        "athena_database": "sales",
        "athena_results_bucket": RESULTS,
    }
    monkeypatch.setenv("AIRFLOW_VAR_DAILY_SALES_GLUE_EMR", json.dumps(config))
    tables = "daily_sales_totals, daily_category_sales, sales_load_ledger, data_quality_history"
    with warehouse.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {tables}")
    yield cluster_id
    with warehouse.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {tables}")


def land_day(sandbox, ds: str) -> None:
    """The day's raw files, and what the EMR step writes for them (moto runs no Spark)."""
    s3 = sandbox.boto3_client("s3")
    for name, body in RAW.items():
        s3.put_object(Bucket=LAKE, Key=f"raw/sales/{ds}/{name}", Body=body.format(ds=ds).encode())
    for output, body in AGGREGATES.items():
        prefix = f"agg/{output}/ds={ds}/"
        s3.put_object(Bucket=LAKE, Key=f"{prefix}part-00000-c000.csv", Body=body.format(ds=ds).encode())
        s3.put_object(Bucket=LAKE, Key=f"{prefix}_SUCCESS", Body=b"")


def short_waits():
    """Production waits (settle two minutes, poll every 30-60 s) made test-sized; no retries, so a
    failure fails the run at once instead of after the DAG's 5-minute retry delays."""

    def prepare(dag) -> None:
        dag.get_task("wait_for_sales").settle_seconds = 1
        dag.get_task("wait_for_sales").poke_interval = 1
        dag.get_task("wait_for_aggregation").poke_interval = 1
        dag.get_task("clean_sales").job_poll_interval = 1
        for task in dag.tasks:
            task.retries = 0

    return prepare


@pytest.fixture
def all_output(caplog, capfd):
    caplog.set_level(logging.INFO)

    def read() -> str:
        out, err = capfd.readouterr()
        return caplog.text + out + err

    return read


def warehouse_rows(warehouse, ds: str):
    with warehouse.cursor() as cur:
        cur.execute(
            "SELECT sale_date::text, orders, units, revenue::text, avg_order_value::text, stores "
            "FROM daily_sales_totals ORDER BY sale_date"
        )
        totals = cur.fetchall()
        cur.execute(
            "SELECT category, orders, units, revenue::text, revenue_share::text FROM daily_category_sales "
            "WHERE sale_date = %s ORDER BY category",
            (ds,),
        )
        return totals, cur.fetchall()


def test_a_day_runs_through_glue_emr_redshift_athena_and_slack(airflow_db, sandbox, lake, warehouse):
    logical_date = day(0)
    ds = logical_date.strftime("%Y-%m-%d")
    land_day(sandbox, ds)

    result = run_dag(DAG_ID, FILE, logical_date, prepare=short_waits())

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    # Glue: the script uploaded, the job created with the role, the run given the day's files and paths.
    glue, s3 = sandbox.boto3_client("glue"), sandbox.boto3_client("s3")
    job = glue.get_job(JobName="sales_cleaning")["Job"]
    assert job["Role"] == GLUE_ROLE
    assert job["Command"]["ScriptLocation"] == f"s3://{ARTIFACTS}/artifacts/glue-scripts/sales_cleaning.py"
    uploaded = s3.get_object(Bucket=ARTIFACTS, Key="artifacts/glue-scripts/sales_cleaning.py")["Body"].read()
    assert uploaded == (JOBS / "sales_cleaning.py").read_bytes()
    (run,) = glue.get_job_runs(JobName="sales_cleaning")["JobRuns"]
    assert run["Arguments"] == {
        "--input_path": f"s3://{LAKE}/raw/sales/{ds}/store_1.csv,s3://{LAKE}/raw/sales/{ds}/store_2.csv",
        "--output_path": f"s3://{LAKE}/clean/sales/ds={ds}/",
        "--ds": ds,
    }

    # EMR: one step on the cluster, spark-submit of the uploaded script with the day's paths.
    (step,) = sandbox.boto3_client("emr").list_steps(ClusterId=lake)["Steps"]
    script = f"s3://{ARTIFACTS}/artifacts/emr-scripts/sales_aggregation.py"
    assert step["Name"] == "sales_aggregation"
    assert step["Status"]["State"] == "COMPLETED"
    assert step["Config"]["Args"] == [
        "spark-submit", "--deploy-mode", "cluster", script,
        "--input_path", f"s3://{LAKE}/clean/sales/ds={ds}/",
        "--output_path", f"s3://{LAKE}/agg/",
        "--ds", ds,
    ]  # fmt: skip
    uploaded = s3.get_object(Bucket=ARTIFACTS, Key="artifacts/emr-scripts/sales_aggregation.py")[
        "Body"
    ].read()
    assert uploaded == (JOBS / "sales_aggregation.py").read_bytes()

    # Warehouse: the day's aggregates; the report; one Slack message.
    expected = (
        [(ds, 3, 6, "15.00", "5.00", 2)],
        [("food", 2, 4, "6.00", "0.4000"), ("toys", 1, 2, "9.00", "0.6000")],
    )
    assert warehouse_rows(warehouse, ds) == expected
    report = s3.get_object(Bucket=LAKE, Key=f"reports/category_sales/{ds}.csv")["Body"].read().decode()
    assert report.splitlines() == [
        '"category","orders","units","revenue","revenue_share"',
        '"toys","1","2","9.00","0.6000"',
        '"food","2","4","6.00","0.4000"',
    ]
    (message,) = sandbox.slack_receiver.messages
    assert f"Daily sales for {ds} are in Redshift" in json.dumps(message)
    assert f"s3://{LAKE}/reports/category_sales/{ds}.csv" in json.dumps(message)

    # A rerun of the day replaces the day: the same rows, no duplicates.
    rerun = run_dag(DAG_ID, FILE, logical_date, prepare=short_waits())
    assert rerun.state == "success", rerun.task_states
    assert warehouse_rows(warehouse, ds) == expected


@pytest.mark.parametrize(
    ("outcomes", "failed_task", "error"),
    [
        pytest.param(
            {"glue": {"sales_cleaning": {"state": "FAILED", "error": "AnalysisException: no column qty"}}},
            "clean_sales",
            "AnalysisException: no column qty",
            id="glue-job-run-fails",
        ),
        pytest.param(
            {
                "emr": {
                    "sales_aggregation": {
                        "state": "FAILED",
                        "reason": "Spark application failed",
                        "message": "OutOfMemoryError: Java heap space",
                        "log_file": "s3://sales-logs/steps/s-1/stderr.gz",
                    }
                }
            },
            "wait_for_aggregation",
            "OutOfMemoryError: Java heap space",
            id="emr-step-fails",
        ),
    ],
)
def test_a_failed_job_fails_the_run_with_its_error_and_tells_slack(
    airflow_db, sandbox, lake, warehouse, all_output, outcomes, failed_task, error
):
    logical_date = day(1 if failed_task == "clean_sales" else 2)
    ds = logical_date.strftime("%Y-%m-%d")
    land_day(sandbox, ds)
    sandbox.moto.set_job_outcomes(**outcomes)

    result = run_dag(DAG_ID, FILE, logical_date, prepare=short_waits())

    assert result.state == "failed"
    assert result.task_states[failed_task] == "failed"
    for downstream in ("load_daily_totals", "load_category_summary", "check_aggregates", "notify"):
        assert result.task_states[downstream] == "upstream_failed"
    assert error in all_output()
    with warehouse.cursor() as cur:
        cur.execute("SELECT count(*) FROM daily_category_sales")
        assert cur.fetchone() == (0,)
    (message,) = sandbox.slack_receiver.messages
    text = json.dumps(message)
    assert "daily_sales_glue_emr" in text and failed_task in text
