"""Daily sales ETL in the classic MWAA shape: S3 → Glue (clean) → EMR Spark (aggregate) → Redshift → checks
→ Athena report → Slack.

Everything environment-specific is in one JSON Variable, ``daily_sales_glue_emr`` (see
``docs/example-daily-sales-glue-emr.md``); connections are ``aws_default``, ``redshift_default`` and
``slack_webhook_default``. The job scripts are ``jobs/sales_cleaning.py`` and ``jobs/sales_aggregation.py``
next to this file on MWAA (``examples/jobs/`` in this repository); the DAG uploads them to S3 each run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.operators.athena_report import AthenaReportOperator
from airflow_sales_provider.operators.data_quality import DataQualityOperator
from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
from airflow_sales_provider.operators.slack import SlackNotifyOperator
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
# dags/jobs/ on MWAA; examples/jobs/ in this repository.
JOBS = next((d for d in (HERE / "jobs", HERE.parent / "jobs") if d.is_dir()), HERE / "jobs")
VARIABLE = "daily_sales_glue_emr"


def cfg(key: str) -> str:
    """A template reading ``key`` of the DAG's Variable at run time (never at parse time)."""
    return "{{ var.json." + VARIABLE + "." + key + " }}"


LAKE = cfg("bucket")
CLEAN_PATH = f"s3://{LAKE}/clean/sales/ds={{{{ ds }}}}/"
AGG_ROOT = f"s3://{LAKE}/agg/"
AGGREGATION_STEP = "sales_aggregation"

with DAG(
    dag_id="daily_sales_glue_emr",
    schedule="0 1 * * *",
    start_date=datetime(2024, 3, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "sales-data",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    on_failure_callback=SlackNotifier(summary=True),
    tags=["sales", "glue", "emr", "example"],
    doc_md=__doc__,
) as dag:
    wait_for_sales = S3ArrivalSensor(
        task_id="wait_for_sales",
        bucket=LAKE,
        prefix="raw/sales/{{ ds }}/",
        pattern="*.csv*",
        settle_seconds=120,
        deferrable=True,
        poke_interval=60,
        timeout=6 * 60 * 60,
    )

    @task
    def list_day_files(arrival: dict) -> str:
        """The day's files as the Glue job's ``--input_path``: exactly what the sensor saw, no more."""
        keys = [item["key"] if isinstance(item, dict) else item for item in arrival["keys"]]
        print(f"{len(keys)} file(s) for the day: {keys}")
        return ",".join(f"s3://{arrival['bucket']}/{key}" for key in keys)

    day_files = list_day_files(wait_for_sales.output)

    # [START howto_daily_sales_glue_emr_glue]
    clean_sales = GlueJobOperator(
        task_id="clean_sales",
        job_name="sales_cleaning",
        script_location=str(JOBS / "sales_cleaning.py"),  # uploaded to s3_bucket/artifacts/glue-scripts/
        s3_bucket=cfg("artifacts_bucket"),
        replace_script_file=True,
        iam_role_arn=cfg("glue_role_arn"),
        create_job_kwargs={"GlueVersion": "5.0", "WorkerType": "G.1X", "NumberOfWorkers": 2},
        update_config=True,
        script_args={"--input_path": day_files, "--output_path": CLEAN_PATH, "--ds": "{{ ds }}"},
        verbose=True,  # the job's CloudWatch logs (its error, when it fails) in the task log
        job_poll_interval=30,
    )

    # [END howto_daily_sales_glue_emr_glue]

    @task
    def upload_aggregation_script(bucket: str) -> str:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        key = "artifacts/emr-scripts/sales_aggregation.py"
        S3Hook().load_file(str(JOBS / "sales_aggregation.py"), key=key, bucket_name=bucket, replace=True)
        return f"s3://{bucket}/{key}"

    aggregation_script = upload_aggregation_script(cfg("artifacts_bucket"))

    # [START howto_daily_sales_glue_emr_emr]
    aggregate_sales = EmrAddStepsOperator(
        task_id="aggregate_sales",
        job_flow_id=cfg("emr_cluster_id"),
        steps=[
            {
                "Name": AGGREGATION_STEP,
                "ActionOnFailure": "CONTINUE",  # a failed day must not take the shared cluster down
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": [
                        "spark-submit",
                        "--deploy-mode",
                        "cluster",
                        aggregation_script,
                        "--input_path",
                        CLEAN_PATH,
                        "--output_path",
                        AGG_ROOT,
                        "--ds",
                        "{{ ds }}",
                    ],
                },
            }
        ],
    )

    wait_for_aggregation = EmrStepSensor(
        task_id="wait_for_aggregation",
        job_flow_id=cfg("emr_cluster_id"),
        step_id="{{ ti.xcom_pull(task_ids='aggregate_sales')[0] }}",
        poke_interval=60,
        mode="reschedule",  # no worker slot held while Spark runs
        timeout=3 * 60 * 60,
    )

    # [END howto_daily_sales_glue_emr_emr]

    create_tables = SQLExecuteQueryOperator(
        task_id="create_tables",
        conn_id="redshift_default",
        sql=[
            "CREATE TABLE IF NOT EXISTS daily_sales_totals (sale_date date NOT NULL, orders bigint, "
            "units bigint, revenue numeric(14,2), avg_order_value numeric(12,2), stores bigint)",
            "CREATE TABLE IF NOT EXISTS daily_category_sales (sale_date date NOT NULL, category varchar(64), "
            "orders bigint, units bigint, revenue numeric(14,2), revenue_share numeric(6,4))",
        ],
    )

    loads = [
        RedshiftLoadOperator(
            task_id=f"load_{output}",
            redshift_conn_id="redshift_default",
            s3_bucket=LAKE,
            s3_prefix=f"agg/{output}/ds={{{{ ds }}}}/",
            pattern="*.csv",  # Spark's part files, not _SUCCESS
            table=table,
            schema="public",
            mode="replace_partition",  # a rerun of the day replaces the day, never appends
            partition_column="sale_date",
            partition_value="{{ ds }}",
            iam_role_arn=cfg("redshift_copy_role_arn"),
        )
        for output, table in (
            ("daily_totals", "daily_sales_totals"),
            ("category_summary", "daily_category_sales"),
        )
    ]

    check_aggregates = DataQualityOperator(
        task_id="check_aggregates",
        conn_id="redshift_default",
        table="public.daily_category_sales",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        history="public.data_quality_history",
        checks=[
            {"check": "row_count", "min": 1},
            {"check": "not_null", "columns": ["category", "revenue", "orders"]},
            {"check": "unique", "column": "category"},
            {"check": "range", "column": "revenue", "min": 0},
            {"check": "range", "column": "revenue_share", "min": 0, "max": 1},
        ],
    )

    @task
    def register_report_table(database: str, bucket: str, ds: str | None = None) -> str:
        """The aggregates as an Athena table (Glue Data Catalog) with the day's partition."""
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        glue = GlueCatalogHook().get_conn()
        location = f"s3://{bucket}/agg/category_summary/"
        storage = {
            "Columns": [
                {"Name": name, "Type": kind}
                for name, kind in (
                    ("sale_date", "date"),
                    ("category", "string"),
                    ("orders", "bigint"),
                    ("units", "bigint"),
                    ("revenue", "decimal(14,2)"),
                    ("revenue_share", "decimal(6,4)"),
                )
            ],
            "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"field.delim": ","},
            },
        }
        for call, kwargs in (
            (glue.create_database, {"DatabaseInput": {"Name": database}}),
            (
                glue.create_table,
                {
                    "DatabaseName": database,
                    "TableInput": {
                        "Name": "daily_category_sales",
                        "TableType": "EXTERNAL_TABLE",
                        "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
                        "PartitionKeys": [{"Name": "ds", "Type": "string"}],
                        "StorageDescriptor": storage,
                    },
                },
            ),
            (
                glue.create_partition,
                {
                    "DatabaseName": database,
                    "TableName": "daily_category_sales",
                    "PartitionInput": {
                        "Values": [ds],
                        "StorageDescriptor": {**storage, "Location": f"{location}ds={ds}/"},
                    },
                },
            ),
        ):
            try:
                call(**kwargs)
            except glue.exceptions.AlreadyExistsException:
                pass  # created by an earlier run: the catalogue is the same
        return f"{database}.daily_category_sales"

    report_table = register_report_table(cfg("athena_database"), LAKE)

    report = AthenaReportOperator(
        task_id="category_report",
        sql="sql/daily_sales_glue_emr_report.sql",
        database=cfg("athena_database"),
        output_location=f"s3://{cfg('athena_results_bucket')}/daily_sales_glue_emr/",
        report_s3_uri=f"s3://{LAKE}/reports/category_sales/{{{{ ds }}}}.csv",
        max_bytes_scanned=10 * 1024**3,
    )

    notify = SlackNotifyOperator(
        task_id="notify",
        text=":bar_chart: Daily sales for {{ ds }} are in Redshift; category report: "
        "{{ ti.xcom_pull(task_ids='category_report')['report_s3_uri'] }}",
        trigger_rule="all_success",  # a failed run is reported once, by the DAG's failure summary
    )

    day_files >> clean_sales >> aggregate_sales >> wait_for_aggregation >> loads
    aggregation_script >> aggregate_sales
    create_tables >> loads
    loads >> check_aggregates >> report_table >> report >> notify
