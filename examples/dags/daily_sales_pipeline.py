"""The daily sales pipeline: store files in S3 → warehouse → clean → aggregate → checks → Athena → Slack.

Stores drop ``s3://<raw bucket>/daily/{{ ds }}/store_<id>.csv`` (some gzipped) during the night. For each
day the DAG

1. waits for the day's files to settle (``S3ArrivalSensor``, deferrable, files already loaded excluded);
2. upserts their lines into ``stg_sales_lines`` (``RedshiftLoadOperator``, key ``order_id, line_no``, the
   latest ``updated_at`` wins, so a line sent twice collapses to one);
3. cleans the day in the warehouse (``sql/daily_sales/clean/``): categories trimmed, case-folded and
   mapped through ``category_map``; lines without an order id, of an unknown store, with a negative
   amount or an unmapped category go to ``sales_quarantine`` with the reason;
4. aggregates the day (``sql/daily_sales/aggregate/``) per store, per category and as KPIs, replacing
   the day's rows (a rerun replaces, never adds);
5. checks the cleaned and aggregated day (``DataQualityOperator``, history on);
6. publishes the day's cleaned lines to the lake (a day partition of a Glue table) and has Athena
   compute the day's report from it (``AthenaReportOperator``, CSV and JSON Lines, cost guard);
   publishing announces the checked aggregate ``daily_store_sales`` as an asset (dataset), which
   DAGs scheduled on it (``sales_daily_report``) run after;
7. posts one Slack summary per run (``SlackNotifyOperator`` on success, the DAG's ``SlackNotifier`` on
   failure).

Every environment-specific value comes from the Airflow Variable ``sales_pipeline`` (JSON; see
``docs/daily-sales-pipeline.md``) and the connections ``aws_default``, ``warehouse_default`` and the
Slack webhook it names. The same file runs unchanged in dev, qa and prod.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.compat import asset
from airflow_sales_provider.errors import ConfigurationError
from airflow_sales_provider.lineage import asset_uri, connection_table
from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.operators.athena_report import AthenaReportOperator
from airflow_sales_provider.operators.data_quality import DataQualityOperator
from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
from airflow_sales_provider.operators.slack import SlackNotifyOperator
from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor
from airflow_sales_provider.sql.identifiers import quote_identifier

try:
    from airflow.sdk import DAG, Param, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.models.param import Param  # type: ignore[no-redef,attr-defined]


def cfg(key: str) -> str:
    """A template reading ``key`` of the one Variable holding every environment-specific value."""
    return "{{ var.json.sales_pipeline." + key + " }}"


SCHEMA = cfg("schema")
#: the schema as a quoted identifier, for SQL text (validated: anything else fails the task)
QUOTED_SCHEMA = "{{ var.json.sales_pipeline.schema | sql_identifier }}"
WAREHOUSE = "warehouse_default"
SQL_PARAMETERS = {"ds": "{{ ds }}", "loaded_at": "{{ macros.datetime.utcnow().isoformat() }}"}


# [START howto_daily_sales_asset]
#: The table announced once a day is written and checked: an Asset (Airflow 3) / Dataset (Airflow 2.10)
#: named as the lineage module (and the loader's ``emit_asset``) names a table,
#: ``postgres://host:port/database/sales/daily_store_sales``. Outlets are fixed when the file is parsed,
#: so the warehouse comes from the connection's environment variable (never a secrets backend or the
#: metadata database at parse time) and the schema is this constant: ``publish_to_lake`` refuses a
#: Variable whose ``schema`` differs, rather than announce a table it did not write.
AGGREGATE_SCHEMA = "sales"
DAILY_STORE_SALES = asset(
    asset_uri(
        connection_table(
            os.environ.get(
                "AIRFLOW_CONN_WAREHOUSE_DEFAULT", "postgres://warehouse.example.internal:5432/analytics"
            ),
            "daily_store_sales",
            AGGREGATE_SCHEMA,
        )
    )
)
# [END howto_daily_sales_asset]


def sql_files(step: str) -> list[str]:
    """The step's statements, one file each, in file-name order (paths relative to this DAG's folder)."""
    folder = Path(__file__).parent / "sql" / "daily_sales" / step
    return [f"sql/daily_sales/{step}/{path.name}" for path in sorted(folder.glob("*.sql"))]


#: the curated lake table's columns (Glue/Athena types); the day is the partition ``sale_date``
LAKE_COLUMNS = (
    ("order_id", "bigint"),
    ("line_no", "int"),
    ("store_id", "int"),
    ("customer_id", "int"),
    ("category", "string"),
    ("quantity", "int"),
    ("amount", "decimal(12,2)"),
    ("kind", "string"),
    ("net_amount", "decimal(12,2)"),
)


def lake_storage(location: str) -> dict[str, object]:
    """Glue storage descriptor of the curated CSV files (header row, comma-separated)."""
    return {
        "Columns": [{"Name": name, "Type": type_} for name, type_ in LAKE_COLUMNS],
        "Location": location,
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            "Parameters": {"field.delim": ",", "serialization.format": ","},
        },
    }


def ensure_lake_table(glue: object, database: str, location: str) -> None:
    """Create the Glue database and the day-partitioned ``sales_clean`` table if they are missing."""
    client: Any = glue
    try:
        client.create_database(DatabaseInput={"Name": database})
    except client.exceptions.AlreadyExistsException:
        pass
    try:
        client.create_table(
            DatabaseName=database,
            TableInput={
                "Name": "sales_clean",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
                "PartitionKeys": [{"Name": "sale_date", "Type": "string"}],
                "StorageDescriptor": lake_storage(location),
            },
        )
    except client.exceptions.AlreadyExistsException:
        pass


run_summary = SlackNotifier(slack_webhook_conn_id=cfg("slack_webhook_conn_id"), summary=True)

with DAG(
    dag_id="daily_sales_pipeline",
    description="Store sales files in S3 → warehouse → checks → Athena report → Slack, one day per run",
    schedule="0 1 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # One day at a time: the staging table and the ledger are shared by every day, and the `change`
    # check compares a day with the days before it, so a backfill must run the days in order.
    max_active_runs=1,
    default_args={
        "owner": "sales-data",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    # A rerun of a day after a late file: trigger with {"min_files": 1} (the loaded files do not count).
    params={"min_files": Param(None, type=["null", "integer"], minimum=1)},
    user_defined_filters={"sql_identifier": quote_identifier},
    on_failure_callback=run_summary,
    tags=["sales", "pipeline", "example"],
    doc_md=__doc__,
) as dag:
    create_tables = SQLExecuteQueryOperator(
        task_id="create_tables",
        conn_id=WAREHOUSE,
        sql=sql_files("ddl"),
    )

    load_stores = RedshiftLoadOperator(
        task_id="load_stores",
        redshift_conn_id=WAREHOUSE,
        s3_bucket=cfg("raw_bucket"),
        s3_keys=["reference/stores.csv"],
        schema=SCHEMA,
        table="stores",
        mode="truncate_insert",  # a full snapshot; the ledger skips it until the file changes
    )

    load_category_map = RedshiftLoadOperator(
        task_id="load_category_map",
        redshift_conn_id=WAREHOUSE,
        s3_bucket=cfg("raw_bucket"),
        s3_keys=["reference/category_map.csv"],
        schema=SCHEMA,
        table="category_map",
        mode="truncate_insert",
    )

    wait_for_files = S3ArrivalSensor(
        task_id="wait_for_files",
        bucket=cfg("raw_bucket"),
        prefix="daily/{{ ds }}/",
        pattern="store_*.csv*",  # plain or gzipped
        min_files="{{ params.min_files or var.json.sales_pipeline.min_files }}",
        min_size_bytes=1,
        settle_seconds=cfg("settle_seconds"),
        exclude_loaded_into=SCHEMA + ".stg_sales_lines",  # only files not loaded yet count
        warehouse_conn_id=WAREHOUSE,
        deferrable=True,
        poke_interval=30,
        timeout=6 * 60 * 60,
    )

    load_staging = RedshiftLoadOperator(
        task_id="load_staging",
        redshift_conn_id=WAREHOUSE,
        s3_keys=wait_for_files.output,  # exactly the files the sensor saw (key + ETag)
        schema=SCHEMA,
        table="stg_sales_lines",
        mode="upsert",
        upsert_keys=["order_id", "line_no"],
        order_by=["updated_at"],  # a line sent twice: the latest version wins
    )

    clean = SQLExecuteQueryOperator(
        task_id="clean",
        conn_id=WAREHOUSE,
        sql=sql_files("clean"),  # one transaction: the day's quarantine and clean rows are replaced
        parameters=SQL_PARAMETERS,
    )

    aggregate = SQLExecuteQueryOperator(
        task_id="aggregate",
        conn_id=WAREHOUSE,
        sql=sql_files("aggregate"),  # one transaction: delete the day, insert the day
        parameters=SQL_PARAMETERS,
    )

    # A failed check is a fact about the data, not a transient error: retrying gives the same answer.
    check_clean = DataQualityOperator(
        task_id="check_clean",
        conn_id=WAREHOUSE,
        table=SCHEMA + ".sales_clean",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        history=SCHEMA + ".data_quality_history",
        retries=0,
        checks=[
            {"check": "row_count", "min": 1},
            {"check": "unique", "columns": ["order_id", "line_no"], "name": "order_line_key_unique"},
            {"check": "not_null", "columns": ["order_id", "store_id", "category", "amount"]},
            {"check": "range", "column": "amount", "min": 0},
            {"check": "relationships", "column": "store_id", "to": SCHEMA + ".stores", "field": "store_id"},
            {
                "check": "sql",
                "name": "quarantined_share_pct",
                "sql": f"SELECT 100.0 * (SELECT count(*) FROM {QUOTED_SCHEMA}.sales_quarantine "
                "WHERE sale_date = %(partition_value)s) / NULLIF((SELECT count(*) FROM "
                f"{QUOTED_SCHEMA}.stg_sales_lines WHERE sale_date = %(partition_value)s), 0)",
                "op": "<=",
                "value": 20,
            },
            {"check": "freshness", "column": "loaded_at", "max_age": "1 day", "severity": "warn"},
        ],
    )

    check_aggregates = DataQualityOperator(
        task_id="check_aggregates",
        conn_id=WAREHOUSE,
        table=SCHEMA + ".daily_store_sales",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        history=SCHEMA + ".data_quality_history",
        retries=0,
        checks=[
            {"check": "unique", "column": "store_id"},
            {"check": "not_null", "columns": ["revenue", "orders", "units"]},
            {"check": "relationships", "column": "store_id", "to": SCHEMA + ".stores", "field": "store_id"},
            {
                "check": "reconcile",
                "name": "revenue_matches_clean_lines",
                "function": "sum",
                "column": "revenue",
                "against": {
                    "table": SCHEMA + ".sales_clean",
                    "column": "net_amount",
                    "partition_column": "sale_date",
                },
            },
            {
                "check": "change",
                "name": "daily_revenue_change",
                "function": "sum",
                "column": "revenue",
                "lookback": 7,
                "tolerance_pct": 50,
                "severity": "warn",
            },
        ],
    )

    # [START howto_daily_sales_publish]
    # The outlet: when this task succeeds (the day is written and both checks passed), Airflow records
    # an event for the aggregate and queues every DAG scheduled on it. A red day announces nothing.
    @task(task_id="publish_to_lake", outlets=[DAILY_STORE_SALES])
    def publish_to_lake(ds: str | None = None, outlet_events: Any = None) -> dict[str, object]:
        """Write the day's cleaned lines to the lake's day partition and register it in Glue.

        PostgreSQL streams ``COPY (SELECT …) TO STDOUT`` into one object; on Redshift this step is an
        ``UNLOAD`` to the same prefix (see docs/daily-sales-pipeline.md). A rerun overwrites the object.
        """
        import tempfile
        from contextlib import closing

        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_sales_provider.hooks.warehouse import copy_to_stream, warehouse_hook_and_dialect

        try:
            from airflow.sdk import Variable
        except ImportError:  # Airflow 2
            from airflow.models import Variable  # type: ignore[no-redef,attr-defined]

        config = Variable.get("sales_pipeline", deserialize_json=True)
        if config["schema"] != AGGREGATE_SCHEMA:
            raise ConfigurationError(
                f"the sales_pipeline Variable's schema {config['schema']!r} is not {AGGREGATE_SCHEMA!r}, the "
                f"schema of the table this DAG announces ({DAILY_STORE_SALES.uri}): set AGGREGATE_SCHEMA "
                "in this file (and the table DAGs scheduled on it name) to the Variable's schema"
            )
        hook, dialect = warehouse_hook_and_dialect(WAREHOUSE)
        if dialect.name != "postgres":
            raise ValueError(f"publish_to_lake streams from PostgreSQL; on {dialect.name} use UNLOAD")
        day = date.fromisoformat(str(ds))  # a date, so the literal below cannot be anything else
        columns = ", ".join(name for name, _ in LAKE_COLUMNS)
        select = (
            f"SELECT {columns} FROM {quote_identifier(config['schema'])}.sales_clean "
            f"WHERE sale_date = DATE '{day.isoformat()}' ORDER BY order_id, line_no"
        )
        key = f"curated/sales_clean/sale_date={ds}/part-00000.csv"
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024**2) as buffer:
            with closing(hook.get_conn()) as conn, conn.cursor() as cursor:
                rows = copy_to_stream(
                    cursor, f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer
                )
            buffer.seek(0)
            s3 = S3Hook(aws_conn_id="aws_default")
            s3.load_file_obj(buffer, key=key, bucket_name=config["lake_bucket"], replace=True)
        etag = s3.head_object(key=key, bucket_name=config["lake_bucket"])["ETag"].strip('"')
        glue = GlueCatalogHook(aws_conn_id="aws_default").get_conn()
        ensure_lake_table(glue, config["glue_database"], f"s3://{config['lake_bucket']}/curated/sales_clean/")
        location = f"s3://{config['lake_bucket']}/curated/sales_clean/sale_date={ds}/"
        partition = {"Values": [str(ds)], "StorageDescriptor": lake_storage(location)}
        try:
            glue.create_partition(
                DatabaseName=config["glue_database"], TableName="sales_clean", PartitionInput=partition
            )
        except glue.exceptions.AlreadyExistsException:
            pass  # a rerun of the day: same partition, same location, object overwritten above
        outlet_events[DAILY_STORE_SALES].extra = {"sale_date": ds}  # the day the event announces
        # The report query names this ETag: a rerun whose data changed gets a new Athena query (a new
        # client request token), while a retry on the same data re-attaches to the one it started.
        return {"uri": f"s3://{config['lake_bucket']}/{key}", "rows": rows, "etag": etag}

    # [END howto_daily_sales_publish]

    publish = publish_to_lake()

    report_csv = AthenaReportOperator(
        task_id="report_csv",
        sql="sql/daily_sales/report/daily_store_report.sql",
        database=cfg("glue_database"),
        workgroup=cfg("athena_workgroup"),
        output_location=cfg("athena_output"),
        report_s3_uri="s3://" + cfg("reports_bucket") + "/daily/{{ ds }}.csv",
        max_bytes_scanned=1024**3,  # a day of one chain's lines is megabytes: a GiB means a runaway query
        poll_interval=1,
    )

    report_jsonl = AthenaReportOperator(
        task_id="report_jsonl",
        sql="sql/daily_sales/report/daily_store_report.sql",
        database=cfg("glue_database"),
        workgroup=cfg("athena_workgroup"),
        output_location=cfg("athena_output"),
        report_s3_uri="s3://" + cfg("reports_bucket") + "/daily/{{ ds }}.jsonl",
        report_format="jsonl",
        max_bytes_scanned=1024**3,
        poll_interval=1,
    )

    notify = SlackNotifyOperator(
        task_id="notify",
        slack_webhook_conn_id=cfg("slack_webhook_conn_id"),
        text="Daily sales for {{ ds }} ("
        + cfg("env")
        + ") are published: s3://"
        + cfg("reports_bucket")
        + "/daily/{{ ds }}.csv",
        trigger_rule="all_success",  # a failed run is reported once, by the DAG's run summary
    )

    create_tables >> [load_stores, load_category_map, wait_for_files]
    wait_for_files >> load_staging
    [load_stores, load_category_map, load_staging] >> clean >> aggregate >> [check_clean, check_aggregates]
    [check_clean, check_aggregates] >> publish >> [report_csv, report_jsonl] >> notify
