"""Load each day's sales files from S3 exactly once: replace the day's partition, upsert the stores.

Reruns and backfills of a day leave ``sales`` exactly as one clean run would; the ledger table
``sales_load_ledger`` records every object loaded (key, ETag, rows, run).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

BUCKET = "sales-raw"

with DAG(
    dag_id="example_redshift_load",
    schedule="@daily",
    start_date=datetime(2024, 3, 1),
    catchup=False,
    default_args={"owner": "sales-data", "retries": 2},
    tags=["sales", "example"],
) as dag:
    create_tables = SQLExecuteQueryOperator(
        task_id="create_tables",
        conn_id="warehouse_default",
        sql=[
            "CREATE TABLE IF NOT EXISTS sales (sale_id bigint NOT NULL, store_id integer NOT NULL, "
            "sale_date date NOT NULL, amount numeric(12,2), updated_at timestamp)",
            "CREATE TABLE IF NOT EXISTS stores (store_id integer NOT NULL, name varchar(200), "
            "updated_at timestamp)",
        ],
    )

    # [START howto_redshift_load_replace_partition]
    load_sales = RedshiftLoadOperator(
        task_id="load_sales",
        redshift_conn_id="warehouse_default",  # a redshift or postgres connection
        s3_bucket=BUCKET,
        s3_prefix="sales/{{ ds }}/",
        pattern="*.csv*",  # plain or gzip
        table="sales",
        schema="public",
        mode="replace_partition",
        partition_column="sale_date",
        partition_value="{{ ds }}",
    )
    # [END howto_redshift_load_replace_partition]

    # [START howto_redshift_load_upsert]
    load_stores = RedshiftLoadOperator(
        task_id="load_stores",
        redshift_conn_id="warehouse_default",
        s3_bucket=BUCKET,
        s3_prefix="stores/{{ ds }}/",
        table="stores",
        schema="public",
        mode="upsert",
        upsert_keys=["store_id"],
        order_by=["updated_at"],  # the latest version of a store in the batch wins
    )
    # [END howto_redshift_load_upsert]

    create_tables >> [load_sales, load_stores]
