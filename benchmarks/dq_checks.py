"""Data-quality checks: DataQualityOperator vs common.sql's check operators vs a hand-written plan.

Two suites, each in one process against the sandbox's embedded PostgreSQL:

- ``sales`` (5 M rows, 19 checks): not_null on 7 columns, unique order_id, min/max on ids, amounts
  and quantities, distinct categories <= 10, row count > 0, freshness < 1 day, quantity <= 100;
- ``lines`` (4 M order lines, 11 checks): composite key ``unique (order_id, line_no)``,
  ``relationships`` of ``store_id`` to a 500-row dimension, ``accepted_values``, ``range``,
  ``not_null`` on 5 columns, ``freshness``, ``row_count``.

Each suite is run by

- common.sql: ``SQLColumnCheckOperator`` (column checks) + ``SQLTableCheckOperator`` (table checks);
- ours: one ``DataQualityOperator``;
- hand: the best plan a person writes by hand, in two lanes — one aggregate scan (+ the anti-join)
  on one connection, the uniqueness count on another — timed both concurrently and one lane after
  the other; the faster of the two is "hand (best)";
- ``count(*)``: a bare scan, for scale.

Each case runs ``--repeat`` times, interleaved, after a warm-up; medians are printed with the ratios.
Goals: ours >= 3x faster than common.sql on ``sales``; ours <= 1.1x the best hand plan on every suite.

    .venv/af3/bin/python benchmarks/dq_checks.py               # both suites at full size (~2.5 min)
    .venv/af3/bin/python benchmarks/dq_checks.py --quick       # 4 % of the rows: a smoke test
    DQ_BENCH_SCALE=0.25 .venv/af3/bin/python benchmarks/dq_checks.py --suite lines
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dq-bench-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # the numbers, not every statement

SALES_ROWS = 5_000_000
LINES_ROWS = 4_000_000
COLUMNS = ("order_id", "customer_id", "store_id", "product_id", "category", "quantity", "amount")
LINE_COLUMNS = ("order_id", "line_no", "store_id", "status", "amount")
STATUSES = ("placed", "paid", "shipped", "delivered", "returned")


# -- suite 1: sales --------------------------------------------------------------------------------------
def create_sales(connection: Any, rows: int) -> None:
    with connection.cursor() as cur:
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


def sales_common_sql() -> list[Any]:
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


SALES_SPEC: list[dict[str, Any]] = [
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

# The hand plan: every aggregate in one scan (the distinct count by grouping, so the scan stays
# parallel), the uniqueness count beside it.
SALES_HAND = (
    [
        "SELECT sum(n), sum(o), sum(c), sum(s), sum(p), sum(k), sum(q), sum(a), min(mo), min(mc), min(mp),"
        " min(ma), max(xa), min(mq), max(xq), max(f), count(*), sum(v) FROM ("
        "SELECT category, count(*) n, count(order_id) o, count(customer_id) c, count(store_id) s,"
        " count(product_id) p, count(category) k, count(quantity) q, count(amount) a, min(order_id) mo,"
        " min(customer_id) mc, min(product_id) mp, min(amount) ma, max(amount) xa, min(quantity) mq,"
        " max(quantity) xq, max(sold_at) f, count(CASE WHEN NOT quantity <= 100 THEN 1 END) v"
        " FROM bench.sales GROUP BY category) g"
    ],
    ["SELECT count(order_id) - count(DISTINCT order_id) FROM bench.sales"],
)


# -- suite 2: order lines ---------------------------------------------------------------------------------
def create_lines(connection: Any, rows: int) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TABLE bench.stores AS SELECT g AS id, 'store ' || g AS name"
            " FROM generate_series(1, 500) AS g"
        )
        cur.execute("ALTER TABLE bench.stores ADD PRIMARY KEY (id)")
        statuses = ",".join(f"'{s}'" for s in STATUSES)
        cur.execute(
            f"""
            CREATE TABLE bench.lines AS
            SELECT (1 + (g::bigint * 7919) % {int(rows)} / 4)::integer AS order_id,
                   (1 + (g::bigint * 7919) % {int(rows)} % 4)::integer AS line_no,
                   (1 + g % 500)::integer AS store_id,
                   (ARRAY[{statuses}])[1 + g % 5] AS status,
                   ((g % 100000) / 100.0)::numeric(12, 2) AS amount,
                   now() - make_interval(secs => g % 80000) AS sold_at
            FROM generate_series(0, {int(rows) - 1}) AS g
            """
        )
        cur.execute("VACUUM ANALYZE bench.stores")
        cur.execute("VACUUM ANALYZE bench.lines")


LINES_SPEC: list[dict[str, Any]] = [
    {"check": "row_count", "min": 1},
    {"check": "not_null", "columns": list(LINE_COLUMNS)},
    {"check": "unique", "columns": ["order_id", "line_no"]},
    {"check": "relationships", "column": "store_id", "to": "bench.stores", "field": "id"},
    {"check": "accepted_values", "column": "status", "values": list(STATUSES)},
    {"check": "range", "column": "amount", "min": 0, "max": 100000},
    {"check": "freshness", "column": "sold_at", "max_age": "1 day"},
]


def lines_common_sql() -> list[Any]:
    from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator

    mapping: dict[str, dict[str, Any]] = {c: {"null_check": {"equal_to": 0}} for c in LINE_COLUMNS}
    mapping["amount"]["min"] = {"geq_to": 0}
    mapping["amount"]["max"] = {"leq_to": 100000}
    statuses = ",".join(f"'{s}'" for s in STATUSES)
    columns = SQLColumnCheckOperator(
        task_id="columns", conn_id="warehouse_default", table="bench.lines", column_mapping=mapping
    )
    table = SQLTableCheckOperator(
        task_id="table",
        conn_id="warehouse_default",
        table="bench.lines",
        checks={
            "row_count": {"check_statement": "COUNT(*) > 0"},
            "fresh": {"check_statement": "MAX(sold_at) > now() - interval '1 day'"},
            "status_accepted": {"check_statement": f"status IS NULL OR status IN ({statuses})"},
            "key_unique": {
                "check_statement": "(SELECT count(*) FROM (SELECT 1 FROM bench.lines GROUP BY order_id,"
                " line_no HAVING count(*) > 1) AS d) = 0"
            },
            "store_exists": {
                "check_statement": "(SELECT count(*) FROM bench.lines AS c WHERE c.store_id IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM bench.stores AS p WHERE p.id = c.store_id)) = 0"
            },
        },
    )
    return [columns, table]


_STATUS_LIST = ",".join(f"'{s}'" for s in STATUSES)
LINES_HAND = (
    [
        "SELECT count(*), count(order_id), count(line_no), count(store_id), count(status), count(amount),"
        f" count(CASE WHEN status NOT IN ({_STATUS_LIST}) THEN 1 END), min(amount), max(amount),"
        " max(sold_at) FROM bench.lines",
        "SELECT count(*) FROM bench.lines AS c WHERE c.store_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM bench.stores AS p WHERE p.id = c.store_id)",
    ],
    [
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM bench.lines"
        " GROUP BY order_id, line_no HAVING count(*) > 1) AS d"
    ],
)


HAND_SHAPE = {
    "sales": "one aggregate scan (distinct count by grouping) | count(k) - count(DISTINCT k)",
    "lines": "one aggregate scan + NOT EXISTS anti-join | GROUP BY order_id, line_no HAVING count(*) > 1",
}


# -- running ------------------------------------------------------------------------------------------
def lanes(connect: Callable[[], Any], plan: tuple[list[str], list[str]]) -> dict[str, Callable[[], None]]:
    """The hand plan's two lanes, side by side on two connections or one after the other on one.

    Each run opens its connections, as a task does (and as the operator does).
    """

    def run(statements: list[str]) -> None:
        conn = connect()
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                    cur.fetchall()
        finally:
            conn.close()

    def concurrent() -> None:
        side = threading.Thread(target=run, args=(plan[1],))
        side.start()
        run(plan[0])
        side.join()

    def sequential() -> None:
        run(plan[0] + plan[1])

    return {"hand (2 lanes)": concurrent, "hand (1 lane)": sequential}


def measure(cases: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[float]]:
    """Warm up (the table into the cache, our code paths once), then time each case, interleaved."""
    timings: dict[str, list[float]] = {name: [] for name in cases}
    # Airflow 3 warns on stdout that operators run outside a task runner: keep the output to the numbers.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        cases["count(*)"]()
        cases["ours"]()
        for _ in range(repeat):
            for name, case in cases.items():
                started = time.perf_counter()
                case()
                timings[name].append(time.perf_counter() - started)
    return timings


def report(title: str, timings: dict[str, list[float]], *, common_goal: float | None) -> None:
    median = {name: statistics.median(values) for name, values in timings.items()}
    hand = min(median["hand (2 lanes)"], median["hand (1 lane)"])
    print(f"{title}, {len(timings['ours'])} runs each, median")
    print(f"  hand: {HAND_SHAPE[title.split(':')[0]]}")
    for name, values in timings.items():
        print(f"  {name:<15} {median[name]:7.2f} s   (runs: {', '.join(f'{v:.2f}' for v in values)})")
    speedup = median["common.sql"] / median["ours"]
    goal = f"goal >= {common_goal:g}x" if common_goal else "no goal on this suite"
    print(f"  ours vs common.sql: {speedup:.2f}x faster ({goal})")
    ratio = median["ours"] / hand
    verdict = "ok" if ratio <= 1.1 else "MISSED"
    print(f"  ours vs best hand plan ({hand:.2f} s): {ratio:.2f}x (goal <= 1.1x: {verdict})")
    print(f"  ours = {median['ours'] / median['count(*)']:.1f}x one count(*) scan", flush=True)


def run_suite(name: str, sandbox: Any, rows: int, repeat: int, *, primary_key: bool = False) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from airflow_sales_provider.operators.data_quality import DataQualityOperator

    connection = sandbox.connect_warehouse()
    connection.autocommit = True
    table = f"bench.{name}"
    started = time.perf_counter()
    if name == "sales":
        create_sales(connection, rows)
        spec, theirs, hand, total = SALES_SPEC, sales_common_sql(), SALES_HAND, 19
    else:
        create_lines(connection, rows)
        spec, theirs, hand, total = LINES_SPEC, lines_common_sql(), LINES_HAND, 11
    print(f"\ntable: {rows:,} rows in {table}, built in {time.perf_counter() - started:.1f} s")

    hook = PostgresHook(postgres_conn_id="warehouse_default")
    ours = DataQualityOperator(task_id="ours", table=table, checks=spec)

    def run_common_sql() -> None:
        for operator in theirs:
            operator.execute({})

    def run_ours() -> None:
        result = ours.execute({"run_id": "bench"})
        assert result["passed"] and result["summary"]["total"] == total, result

    def connect() -> Any:
        conn = sandbox.connect_warehouse()
        conn.autocommit = True
        return conn

    cases: dict[str, Callable[[], Any]] = {
        "common.sql": run_common_sql,
        "ours": run_ours,
        **lanes(connect, hand),
        "count(*)": lambda: hook.get_records(f"SELECT count(*) FROM {table}"),
    }
    title = f"{name}: {total} checks (common.sql: 2 operators; ours: 1 operator)"
    goal = 3.0 if name == "sales" else None
    report(title + ", no constraints (as loaded, or on Redshift)", measure(cases, repeat), common_goal=goal)
    if primary_key:
        key = "order_id" if name == "sales" else "order_id, line_no"
        with connection.cursor() as cur:
            cur.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
            cur.execute(f"VACUUM ANALYZE {table}")
        report(title + f", PRIMARY KEY ({key})", measure(cases, repeat), common_goal=goal)
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=("sales", "lines", "all"), default="all")
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("DQ_BENCH_SCALE", "1")),
        help="fraction of the full sizes (5 M sales, 4 M lines); env DQ_BENCH_SCALE",
    )
    parser.add_argument("--quick", action="store_true", help="--scale 0.04: a smoke test of the script")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median reported)")
    parser.add_argument(
        "--primary-key", action="store_true", help="then add the primary key and measure again"
    )
    args = parser.parse_args()
    scale = 0.04 if args.quick else args.scale

    from airflow_sales_provider.sandbox import Sandbox

    with Sandbox(aws=False, slack=False) as sandbox, sandbox.environment():
        connection = sandbox.connect_warehouse()
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS bench CASCADE")
            cur.execute("CREATE SCHEMA bench")
        connection.close()
        print(f"{os.cpu_count()} CPUs; the embedded PostgreSQL as the sandbox starts it")
        for name, rows in (("sales", SALES_ROWS), ("lines", LINES_ROWS)):
            if args.suite in (name, "all"):
                size = max(1000, int(rows * scale))
                run_suite(name, sandbox, size, args.repeat, primary_key=args.primary_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
