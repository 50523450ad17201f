"""The daily sales pipeline built only from official operators: the baseline of ``benchmarks/pipeline.py``.

What a data engineer would write today with the amazon, common.sql and (where installed) slack
providers, and nothing of ours:

- ``S3KeySensor`` (poke mode, the default: it holds a worker slot while it waits) with a ``check_fn``
  for the minimum number of files;
- ``S3ListOperator`` and one mapped ``S3ToSqlOperator`` per file, appending to a raw table. On AWS this
  would be ``S3ToRedshiftOperator`` (``method="APPEND"``: a bare ``COPY``); its ``COPY … FROM 's3://…'``
  does not exist in PostgreSQL, so against the sandbox warehouse the official operator that really loads
  S3 files is ``S3ToSqlOperator`` (download, parse, ``insert_rows``). Both append: a rerun of a day
  loads its files again;
- ``SQLExecuteQueryOperator`` for the clean and aggregate steps (delete the day, insert the day);
- ``SQLColumnCheckOperator`` and ``SQLTableCheckOperator`` on the day's partition;
- the day's clean rows through XCom into ``S3CreateObjectOperator`` (the lake copy; no official operator
  streams a query to S3 without pandas), ``AthenaOperator`` for the table DDL, ``MSCK REPAIR TABLE``
  and the report;
- ``SlackWebhookNotifier`` on success and failure when the slack provider is installed.

It lives under ``benchmarks/dags/`` (not ``examples/``; ``make bench`` runs only ``benchmarks/*.py``):
it is the comparison, not a recommendation.
"""

from __future__ import annotations

import csv
import gzip
from datetime import datetime

from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.operators.s3 import S3CreateObjectOperator, S3ListOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.amazon.aws.transfers.s3_to_sql import S3ToSqlOperator
from airflow.providers.common.sql.operators.sql import (
    SQLColumnCheckOperator,
    SQLExecuteQueryOperator,
    SQLTableCheckOperator,
)

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

try:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
except ImportError:  # the slack provider is not installed: no notifications on this side
    SlackWebhookNotifier = None

DAG_ID = "official_daily_sales"
RAW_BUCKET = "{{ params.raw_bucket }}"
SCHEMA = "{{ params.schema }}"
COLUMNS = [
    "order_id", "line_no", "store_id", "sale_date", "sold_at", "customer_id", "category", "quantity",
    "amount", "kind", "updated_at",
]  # fmt: skip


def parse_store_file(path: str) -> list[list[str | None]]:
    """A store file (CSV, maybe gzipped) as rows; empty fields become NULL."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rt") if gzipped else open(path, newline="") as text:
        reader = csv.reader(text)
        next(reader)  # header
        return [[value or None for value in row] for row in reader]


def enough_files(files: list[dict], **context: object) -> bool:
    return len(files) >= int(context["params"]["min_files"])  # type: ignore[index]


callbacks = {}
if SlackWebhookNotifier is not None:
    notifier = SlackWebhookNotifier(slack_webhook_conn_id="slack_webhook_default", text="{{ dag_run }}")
    callbacks = {"on_success_callback": notifier, "on_failure_callback": notifier}

with DAG(
    dag_id=DAG_ID,
    schedule="0 1 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "benchmarks", "retries": 0},
    params={
        "raw_bucket": "sales-raw",
        "reports_bucket": "sales-reports",
        "lake_bucket": "sales-lake",
        "schema": "official_sales",
        "min_files": 3,
        "athena_database": "sales_lake",
    },
    tags=["benchmark", "official-operators"],
    **callbacks,
) as dag:
    wait = S3KeySensor(
        task_id="wait_for_files",
        bucket_name=RAW_BUCKET,
        bucket_key="daily/{{ ds }}/store_*",
        wildcard_match=True,
        check_fn=enough_files,
        poke_interval=30,  # as daily_sales_pipeline's S3ArrivalSensor
        timeout=6 * 60 * 60,
        aws_conn_id="aws_default",
    )
    list_files = S3ListOperator(
        task_id="list_files", bucket=RAW_BUCKET, prefix="daily/{{ ds }}/", aws_conn_id="aws_default"
    )
    ddl = SQLExecuteQueryOperator(
        task_id="create_tables",
        conn_id="warehouse_default",
        sql=[
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
            f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.raw_sales_lines (
                order_id bigint, line_no integer, store_id integer, sale_date date, sold_at timestamp,
                customer_id integer, category varchar(64), quantity integer, amount numeric(12, 2),
                kind varchar(16), updated_at timestamp)""",
            f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.sales_clean (
                order_id bigint, line_no integer, store_id integer, sale_date date, category varchar(64),
                quantity integer, amount numeric(12, 2), kind varchar(16), net_amount numeric(12, 2))""",
            f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.daily_kpis (
                sale_date date, revenue numeric(14, 2), units bigint, orders bigint)""",
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.stores (store_id integer, store_name text, region text)",
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.category_map (raw_category text, category text)",
            f"TRUNCATE {SCHEMA}.stores, {SCHEMA}.category_map",
        ],
    )
    references = [
        S3ToSqlOperator(
            task_id=f"load_{table}",
            s3_bucket=RAW_BUCKET,
            s3_key=f"reference/{table}.csv",
            table=f"{SCHEMA}.{table}",
            parser=parse_store_file,
            sql_conn_id="warehouse_default",
            aws_conn_id="aws_default",
        )
        for table in ("stores", "category_map")
    ]
    load = S3ToSqlOperator.partial(
        task_id="load_file",
        s3_bucket=RAW_BUCKET,
        table=f"{SCHEMA}.raw_sales_lines",  # its ``schema`` names the database, not the table's schema
        column_list=COLUMNS,
        parser=parse_store_file,
        sql_conn_id="warehouse_default",
        aws_conn_id="aws_default",
    ).expand(s3_key=list_files.output)
    clean = SQLExecuteQueryOperator(
        task_id="clean",
        conn_id="warehouse_default",
        sql=[
            f"DELETE FROM {SCHEMA}.sales_clean WHERE sale_date = %(ds)s",
            f"""INSERT INTO {SCHEMA}.sales_clean
                SELECT r.order_id, r.line_no, r.store_id, r.sale_date, m.category, r.quantity, r.amount,
                       r.kind, CASE WHEN r.kind = 'refund' THEN -r.amount ELSE r.amount END
                FROM {SCHEMA}.raw_sales_lines r
                JOIN {SCHEMA}.stores s ON s.store_id = r.store_id
                JOIN {SCHEMA}.category_map m ON m.raw_category = LOWER(TRIM(r.category))
                WHERE r.sale_date = %(ds)s AND r.order_id IS NOT NULL AND r.amount >= 0""",
        ],
        parameters={"ds": "{{ ds }}"},
    )
    aggregate = SQLExecuteQueryOperator(
        task_id="aggregate",
        conn_id="warehouse_default",
        sql=[
            f"DELETE FROM {SCHEMA}.daily_kpis WHERE sale_date = %(ds)s",
            f"""INSERT INTO {SCHEMA}.daily_kpis
                SELECT sale_date, SUM(net_amount), SUM(CASE WHEN kind = 'sale' THEN quantity END),
                       COUNT(DISTINCT CASE WHEN kind = 'sale' THEN order_id END)
                FROM {SCHEMA}.sales_clean WHERE sale_date = %(ds)s GROUP BY sale_date""",
        ],
        parameters={"ds": "{{ ds }}"},
    )
    column_checks = SQLColumnCheckOperator(
        task_id="column_checks",
        conn_id="warehouse_default",
        table=f"{SCHEMA}.sales_clean",
        column_mapping={
            "order_id": {"null_check": {"equal_to": 0}},
            "store_id": {"null_check": {"equal_to": 0}},
            "amount": {"min": {"geq_to": 0}},
        },
        partition_clause="sale_date = '{{ ds }}'",
    )
    table_checks = SQLTableCheckOperator(
        task_id="table_checks",
        conn_id="warehouse_default",
        table=f"{SCHEMA}.daily_kpis",
        checks={
            "one_row": {"check_statement": "COUNT(*) = 1"},
            "revenue_positive": {"check_statement": "MIN(revenue) > 0"},
        },
        partition_clause="sale_date = '{{ ds }}'",
    )
    # The lake copy Athena reads: no official operator streams a query's rows to S3 without pandas, so the
    # day's rows travel through XCom into S3CreateObjectOperator (fine for a demo day, not for a chain).
    export_day = SQLExecuteQueryOperator(
        task_id="export_day",
        conn_id="warehouse_default",
        sql=f"""SELECT order_id, line_no, store_id, category, quantity, amount, kind, net_amount
                FROM {SCHEMA}.sales_clean WHERE sale_date = %(ds)s ORDER BY order_id, line_no""",
        parameters={"ds": "{{ ds }}"},
    )
    publish = S3CreateObjectOperator(
        task_id="publish_to_lake",
        s3_bucket="{{ params.lake_bucket }}",
        s3_key="official/sales_clean/sale_date={{ ds }}/part-0.csv",
        data="{% for row in ti.xcom_pull(task_ids='export_day') %}{{ row | join(',') }}\n{% endfor %}",
        replace=True,
        aws_conn_id="aws_default",
    )
    athena = {
        "database": "{{ params.athena_database }}",
        "output_location": "s3://{{ params.lake_bucket }}/athena-results/",
        "aws_conn_id": "aws_default",
        "sleep_time": 1,
    }
    lake_database, lake_table, lake_partitions = (
        AthenaOperator(task_id=task_id, query=query, **athena)
        for task_id, query in (
            ("lake_database", "CREATE DATABASE IF NOT EXISTS {{ params.athena_database }}"),
            (
                "lake_table",
                """CREATE EXTERNAL TABLE IF NOT EXISTS official_sales_clean (
                    order_id bigint, line_no int, store_id int, category string, quantity int,
                    amount decimal(12,2), kind string, net_amount decimal(12,2))
                   PARTITIONED BY (sale_date string)
                   ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
                   LOCATION 's3://{{ params.lake_bucket }}/official/sales_clean/'""",
            ),
            ("lake_partitions", "MSCK REPAIR TABLE official_sales_clean"),
        )
    )
    report = AthenaOperator(
        task_id="report",
        query="""SELECT store_id, sum(net_amount) AS revenue, count(DISTINCT order_id) AS orders
                 FROM official_sales_clean WHERE sale_date = '{{ ds }}'
                 GROUP BY store_id ORDER BY store_id""",
        **{**athena, "output_location": "s3://{{ params.reports_bucket }}/official/{{ ds }}/"},
    )

    wait >> list_files >> ddl >> references >> load >> clean >> aggregate
    aggregate >> [column_checks, table_checks] >> export_day >> publish
    publish >> lake_database >> lake_table >> lake_partitions >> report
