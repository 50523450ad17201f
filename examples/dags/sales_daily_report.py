"""A finance report scheduled on data, not on the clock: it runs when the daily sales aggregate is loaded.

The daily sales pipeline (``daily_sales_pipeline.py``) writes its per-store aggregate to
``sales.daily_store_sales`` and announces it as an asset once the day has passed its checks (the outlet
of its ``publish_to_lake`` task); this DAG is scheduled on that asset, so every such run of the pipeline
creates one run here. Any task that writes the table can announce it the same way (a static outlet, or
``emit_asset=True`` on a ``RedshiftLoadOperator``, see ``docs/lineage.md``). The asset's URI names the
table as the postgres provider does, ``postgres://host:port/database/schema/table`` (Redshift:
``redshift://cluster.region:5439/...``); it is
built from the warehouse connection's URI or JSON, read from the environment, never from a secrets
backend or the metadata database while the file is parsed.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow_sales_provider.compat import asset
from airflow_sales_provider.lineage import asset_uri, connection_table

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

AGGREGATE_TABLE = "sales.daily_store_sales"  # the daily sales pipeline's per-store aggregate

# [START howto_schedule_on_table]
# The warehouse the pipeline writes; in production a literal such as
# "redshift://sales-dw.eu-west-1:5439/analytics/sales/daily_store_sales" is simpler.
WAREHOUSE = os.environ.get(
    "AIRFLOW_CONN_WAREHOUSE_DEFAULT", "postgres://warehouse.example.internal:5432/analytics"
)
DAILY_STORE_SALES = asset(asset_uri(connection_table(WAREHOUSE, AGGREGATE_TABLE)))

with DAG(
    dag_id="sales_daily_report",
    schedule=[DAILY_STORE_SALES],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "finance", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["sales", "example", "lineage"],
) as dag:
    # [END howto_schedule_on_table]

    @task
    def publish_finance_report() -> dict:
        """Revenue per day from the aggregate, as CSV in s3://reports/finance/daily_revenue.csv."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_sales_provider.compat import BaseHook

        hook = BaseHook.get_connection("warehouse_default").get_hook()
        rows = hook.get_records(
            f"SELECT sale_date::text, sum(revenue) FROM {AGGREGATE_TABLE} GROUP BY 1 ORDER BY 1"
        )
        body = "sale_date,revenue\n" + "".join(f"{day},{revenue}\n" for day, revenue in rows)
        S3Hook(aws_conn_id="aws_default").load_string(
            body, key="finance/daily_revenue.csv", bucket_name="reports", replace=True
        )
        return {"report_s3_uri": "s3://reports/finance/daily_revenue.csv", "days": len(rows)}

    publish_finance_report()
