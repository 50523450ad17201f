"""Data-quality checks on a 5 M-row sales table: common.sql's check operators vs DataQualityOperator.

The same 19 checks (not_null on 7 columns, unique order_id, min/max on ids, amounts and quantities,
distinct categories <= 10, row count > 0, freshness < 1 day, quantity <= 100) are run, in one
process against the sandbox's embedded PostgreSQL, by

- common.sql: ``SQLColumnCheckOperator`` (16 column checks) + ``SQLTableCheckOperator`` (3 table checks);
- ours: one ``DataQualityOperator`` (one aggregate scan + a GROUP BY for uniqueness + one for the
  distinct count);
- the floor: a bare ``SELECT count(*)`` (one scan, no checks).

Each case runs ``--repeat`` times, interleaved, after a warm-up scan; the median is printed with the
ratio to common.sql and to the floor. Goal: ours >= 3x faster than common.sql.

    .venv/af3/bin/python benchmarks/dq_checks.py            # 5,000,000 rows
    .venv/af3/bin/python benchmarks/dq_checks.py --quick    # 200,000 rows, a smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dq-bench-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # the numbers, not every statement

COLUMNS = ("order_id", "customer_id", "store_id", "product_id", "category", "quantity", "amount")


def create_table(connection: Any, rows: int) -> None:
    with connection.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        cur.execute("CREATE SCHEMA bench")
        cur.execute(
            f"""
            CREATE TABLE bench.sales AS
            SELECT (1 + (g::bigint * 7919) % {int(rows)})::integer AS order_id,
                   (1 + (g::bigint * 7919) % 200000)::integer AS customer_id,
                   1 + g % 250 AS store_id,
                   (1 + (g::bigint * 31) % 5000)::integer AS product_id,
                   (ARRAY['food','toys','books','garden','music','sport','home','beauty','tools','pets'])
                       [1 + g % 10] AS category,
                   1 + g % 20 AS quantity,
                   ((g % 100000) / 100.0)::numeric(12, 2) AS amount,
                   now() - make_interval(secs => g % 80000) AS sold_at,
                   current_date AS sale_date
            FROM generate_series(1, {int(rows)}) AS g
            """
        )
        cur.execute("VACUUM ANALYZE bench.sales")


def common_sql_operators() -> list[Any]:
    from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator

    mapping: dict[str, dict[str, Any]] = {c: {"null_check": {"equal_to": 0}} for c in COLUMNS}
    mapping["order_id"]["unique_check"] = {"equal_to": 0}
    mapping["order_id"]["min"] = {"geq_to": 1}
    mapping["customer_id"]["min"] = {"geq_to": 1}
    mapping["product_id"]["min"] = {"geq_to": 1}
    mapping["amount"]["min"] = {"geq_to": 0}
    mapping["amount"]["max"] = {"leq_to": 100000}
    mapping["quantity"]["min"] = {"geq_to": 1}
    mapping["quantity"]["max"] = {"leq_to": 100}
    mapping["category"]["distinct_check"] = {"leq_to": 10}
    columns = SQLColumnCheckOperator(
        task_id="columns", conn_id="warehouse_default", table="bench.sales", column_mapping=mapping
    )
    table = SQLTableCheckOperator(
        task_id="table",
        conn_id="warehouse_default",
        table="bench.sales",
        checks={
            "row_count": {"check_statement": "COUNT(*) > 0"},
            "fresh": {"check_statement": "MAX(sold_at) > now() - interval '1 day'"},
            "quantity_cap": {"check_statement": "quantity <= 100"},
        },
    )
    return [columns, table]


OUR_SPEC: list[dict[str, Any]] = [
    {"check": "not_null", "columns": list(COLUMNS)},
    {"check": "unique", "column": "order_id"},
    {"check": "range", "column": "order_id", "min": 1, "name": "min_order_id"},
    {"check": "range", "column": "customer_id", "min": 1, "name": "min_customer_id"},
    {"check": "range", "column": "product_id", "min": 1, "name": "min_product_id"},
    {"check": "range", "column": "amount", "min": 0, "name": "min_amount"},
    {"check": "range", "column": "amount", "max": 100000, "name": "max_amount"},
    {"check": "range", "column": "quantity", "min": 1, "name": "min_quantity"},
    {"check": "range", "column": "quantity", "max": 100, "name": "max_quantity"},
    {"check": "distinct_count", "column": "category", "max": 10},
    {"check": "row_count", "min": 1},
    {"check": "freshness", "column": "sold_at", "max_age": "1 day"},
    {"check": "expression", "expression": "quantity <= 100", "name": "quantity_cap"},
]


def measure(cases: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    """Warm up (the table into the cache, every code path once), then time each case, interleaved."""
    timings: dict[str, list[float]] = {name: [] for name in cases}
    # Airflow 3 warns on stdout that operators run outside a task runner: keep the output to the numbers.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        cases["count(*)"]()
        for case in cases.values():
            case()
        for _ in range(repeat):
            for name, case in cases.items():
                started = time.perf_counter()
                case()
                timings[name].append(time.perf_counter() - started)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> None:
    median = {name: statistics.median(values) for name, values in timings.items()}
    runs = len(timings["ours"])
    print(f"{title}: 19 checks (common.sql: 2 operators; ours: 1 operator), {runs} runs each, median")
    for name, values in timings.items():
        print(f"  {name:<11} {median[name]:7.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"  speed-up ours vs common.sql: {median['common.sql'] / median['ours']:.2f}x (goal >= 3x)")
    print(
        f"  ours = {median['ours'] / median['count(*)']:.1f}x one count(*) scan; common.sql = "
        f"{median['common.sql'] / median['count(*)']:.1f}x",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200,000 rows: a smoke test of the script")
    parser.add_argument("--rows", type=int, help="table size (default 5,000,000; 200,000 with --quick)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument(
        "--primary-key",
        action="store_true",
        help="then add PRIMARY KEY (order_id) and measure again (PostgreSQL enforces it: no uniqueness scan)",
    )
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 5_000_000)

    from airflow_sales_provider.sandbox import Sandbox

    with Sandbox(aws=False, slack=False) as sandbox, sandbox.environment():
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from airflow_sales_provider.operators.data_quality import DataQualityOperator

        connection = sandbox.connect_warehouse()
        connection.autocommit = True
        started = time.perf_counter()
        create_table(connection, rows)
        print(f"table: {rows:,} rows in bench.sales, built in {time.perf_counter() - started:.1f} s")

        hook = PostgresHook(postgres_conn_id="warehouse_default")
        ours = DataQualityOperator(task_id="ours", table="bench.sales", checks=OUR_SPEC)
        theirs = common_sql_operators()

        def run_common_sql() -> None:
            for operator in theirs:
                operator.execute({})

        def run_ours() -> None:
            result = ours.execute({"run_id": "bench"})
            assert result["passed"] and result["summary"]["total"] == 19, result["summary"]

        def run_count() -> None:
            hook.get_records("SELECT count(*) FROM bench.sales")

        cases = {"common.sql": run_common_sql, "ours": run_ours, "count(*)": run_count}
        report("no constraints (as loaded, or on Redshift)", measure(cases, args.repeat))
        if args.primary_key:
            started = time.perf_counter()
            with connection.cursor() as cur:
                cur.execute("ALTER TABLE bench.sales ADD PRIMARY KEY (order_id)")
                cur.execute("VACUUM ANALYZE bench.sales")
            print(f"\nadded PRIMARY KEY (order_id) in {time.perf_counter() - started:.1f} s")
            report("order_id PRIMARY KEY (PostgreSQL enforces it)", measure(cases, args.repeat))
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
