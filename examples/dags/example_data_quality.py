"""Data-quality checks on a day of sales: one scan for the aggregate checks, warn vs fail, history.

``load_sales`` writes a small day of synthetic sales (pass ``{"bad_rows": 3}`` as run conf to plant
problems); ``check_sales`` runs an inline spec, ``check_sales_yaml`` the same kind of spec from
``example_data_quality.yaml`` next to this file. Results go to XCom under ``data_quality``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.operators.data_quality import DataQualityOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

with DAG(
    dag_id="example_data_quality",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"bad_rows": 0},
    # A failed check is a fact about the data, not a transient error: retrying gives the same answer.
    default_args={"owner": "sales-data", "retries": 0},
    tags=["sales", "data-quality", "example"],
) as dag:
    load_sales = SQLExecuteQueryOperator(
        task_id="load_sales",
        conn_id="warehouse_default",
        sql=[
            "CREATE SCHEMA IF NOT EXISTS example_dq",
            "CREATE TABLE IF NOT EXISTS example_dq.customers (id integer PRIMARY KEY)",
            "INSERT INTO example_dq.customers SELECT g FROM generate_series(1, 50) g ON CONFLICT DO NOTHING",
            "CREATE TABLE IF NOT EXISTS example_dq.sales (order_id integer, customer_id integer, "
            "category text, quantity integer, amount numeric(12, 2), sold_at timestamptz, sale_date date)",
            "DELETE FROM example_dq.sales WHERE sale_date = %(ds)s::date",
            "INSERT INTO example_dq.sales SELECT g, 1 + mod(g, 50), "
            "(ARRAY['food', 'toys', 'books'])[1 + mod(g, 3)], 1 + mod(g, 5), 10 + mod(g, 90), "
            "now() - make_interval(mins => g), %(ds)s::date FROM generate_series(1, 200) g",
            # planted problems: a duplicate order, a missing customer, a negative amount, an unknown category
            "INSERT INTO example_dq.sales SELECT 1, NULL, 'weapons', 1, -5, now(), %(ds)s::date "
            "FROM generate_series(1, %(bad_rows)s::integer) g",
        ],
        parameters={"ds": "{{ ds }}", "bad_rows": "{{ params.bad_rows }}"},
    )

    # [START howto_data_quality]
    check_sales = DataQualityOperator(
        task_id="check_sales",
        conn_id="warehouse_default",
        table="example_dq.sales",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        history="example_dq.data_quality_history",
        checks=[
            {"check": "row_count", "min": 100},
            {"check": "not_null", "columns": ["order_id", "customer_id", "amount"]},
            {"check": "unique", "column": "order_id"},
            {"check": "accepted_values", "column": "category", "values": ["food", "toys", "books"]},
            {"check": "range", "column": "amount", "min": 0, "max": 10000},
            {"check": "freshness", "column": "sold_at", "max_age": "1 day"},
            {"check": "relationships", "column": "customer_id", "to": "example_dq.customers", "field": "id"},
            {"check": "expression", "expression": "quantity BETWEEN 1 AND 100", "name": "sane_quantity"},
            {
                "check": "change",
                "function": "sum",
                "column": "amount",
                "tolerance_pct": 25,
                "severity": "warn",
            },
        ],
    )
    # [END howto_data_quality]

    # [START howto_data_quality_yaml]
    check_sales_yaml = DataQualityOperator(
        task_id="check_sales_yaml",
        table="example_dq.sales",
        partition={"column": "sale_date", "value": "{{ ds }}"},
        checks="example_data_quality.yaml",  # found next to the DAG file, rendered with Jinja
    )
    # [END howto_data_quality_yaml]

    load_sales >> [check_sales, check_sales_yaml]
