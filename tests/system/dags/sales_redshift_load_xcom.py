"""Test DAG: the loader reads the arrival sensor's XCom through a template, rendered as a string."""

from __future__ import annotations

from datetime import datetime

from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

with DAG(
    dag_id="sales_redshift_load_xcom",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    render_template_as_native_obj=False,
) as dag:

    @task
    def wait_for_files(ds: str | None = None) -> dict:
        """Stands in for the S3 arrival sensor: returns the same XCom shape."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = S3Hook(aws_conn_id="aws_default").get_conn()
        listed = client.list_objects_v2(Bucket="sales-raw", Prefix=f"xcom/{ds}/")["Contents"]
        keys = [{"key": o["Key"], "size": o["Size"], "etag": o["ETag"]} for o in listed]
        return {"bucket": "sales-raw", "prefix": f"xcom/{ds}/", "keys": keys}

    load = RedshiftLoadOperator(
        task_id="load",
        redshift_conn_id="warehouse_default",
        s3_keys="{{ ti.xcom_pull(task_ids='wait_for_files') }}",
        table="xcom_sales",
        schema="public",
        mode="replace_partition",
        partition_column="sale_date",
        partition_value="{{ ds }}",
    )

    wait_for_files() >> load
