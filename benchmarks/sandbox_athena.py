"""Benchmark: the sandbox's Athena engine on a 1 M-row CSV table, one day per partition, 30 days.

Two queries through Athena's API (boto3 -> the sandbox endpoint -> the engine):

- ``all days``: an aggregate over every partition;
- ``one day``: the same aggregate with ``WHERE day = '...'``, which partition pruning narrows to one
  day's object.

For each: wall time from StartQueryExecution to SUCCEEDED (median of 3), DataScannedInBytes, and the
server process's peak RSS during the query (the moto + engine process; its high-water mark is reset
before each query through ``/proc/<pid>/clear_refs``). The baseline, measured in the same run, is
DuckDB itself over the same CSV files on local disk: what the engine adds on top (S3 reads through the
API, Glue, SQL translation, result CSV) shows as a ratio to it.

Goals (docs/sandbox.md): the one-day query scans 1/30 of the bytes; a 1 M-row aggregate answers in
<= 2 s on 2 cores.

    .venv/af3/bin/python benchmarks/sandbox_athena.py            # 1 M rows
    .venv/af3/bin/python benchmarks/sandbox_athena.py --rows 100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

DAYS = 30
AGGREGATE = (
    "SELECT store_id, count(*) AS orders, sum(amount) AS revenue, approx_distinct(customer_id) AS customers "
    "FROM orders{where} GROUP BY store_id ORDER BY store_id"
)
GOAL_SECONDS = 2.0


def make_days(rows: int) -> dict[str, bytes]:
    rng = random.Random(7)
    start = date(2025, 1, 1)
    per_day = rows // DAYS
    days = {}
    order_id = 0
    for d in range(DAYS):
        lines = ["order_id,store_id,customer_id,amount,sold_at"]
        day = start + timedelta(days=d)
        count = per_day + (1 if d < rows % DAYS else 0)
        for _ in range(count):
            order_id += 1
            lines.append(
                f"{order_id},{rng.randrange(50)},{rng.randrange(20000)},{rng.randrange(100, 20000) / 100},"
                f"{day} {rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
            )
        days[day.isoformat()] = ("\n".join(lines) + "\n").encode()
    return days


def vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def run_query(athena, sql: str) -> tuple[float, int]:
    started = time.perf_counter()
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": "bench"},
        ResultConfiguration={"OutputLocation": "s3://bench-athena-results/"},
    )["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.005)
    wall = time.perf_counter() - started
    if state != "SUCCEEDED":
        raise SystemExit(f"query {state}: {execution['Status'].get('StateChangeReason')}")
    return wall, int(execution["Statistics"]["DataScannedInBytes"])


def baseline(days: dict[str, bytes], folder: Path, one_day: str) -> tuple[float, float]:
    """DuckDB over the same CSV files on local disk, Hive partitioning from the folder names."""
    import duckdb

    for day, body in days.items():
        (folder / f"day={day}").mkdir(parents=True)
        (folder / f"day={day}" / "part-0.csv").write_bytes(body)
    con = duckdb.connect(config={"threads": 2, "autoinstall_known_extensions": False})
    source = f"read_csv('{folder}/*/*.csv', header = true, hive_partitioning = true)"
    sql = AGGREGATE.replace("orders{where}", source + "{where}").replace(
        "approx_distinct", "approx_count_distinct"
    )

    def timed(where: str) -> float:
        walls = []
        for _ in range(3):
            started = time.perf_counter()
            con.execute(sql.format(where=where)).fetchall()
            walls.append(time.perf_counter() - started)
        return statistics.median(walls)

    return timed(""), timed(f" WHERE day = '{one_day}'")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    from airflow_sales_provider.sandbox import Sandbox

    started = time.perf_counter()
    days = make_days(args.rows)
    total_bytes = sum(map(len, days.values()))
    one_day = sorted(days)[DAYS // 2]
    print(
        f"data: {args.rows:,} rows, {DAYS} day partitions, {total_bytes / 1e6:.1f} MB of CSV "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )

    with Sandbox(postgres=False, slack=False) as sandbox, tempfile.TemporaryDirectory() as tmp:
        s3 = sandbox.boto3_client("s3")
        s3.create_bucket(Bucket="bench-raw")
        s3.create_bucket(Bucket="bench-athena-results")
        for day, body in days.items():
            s3.put_object(Bucket="bench-raw", Key=f"orders/day={day}/part-0.csv", Body=body)
        sandbox.athena.create_table_from_s3(
            "bench",
            "orders",
            "s3://bench-raw/orders/",
            {
                "order_id": "bigint",
                "store_id": "int",
                "customer_id": "int",
                "amount": "double",
                "sold_at": "timestamp",
            },
            partitioned_by={"day": "string"},
        )
        athena = sandbox.boto3_client("athena")
        pid = sandbox.moto._process.pid
        run_query(athena, "SELECT 1")  # warm the engine's imports and clients
        reset_hwm(pid)
        idle = vm_hwm_mib(pid)

        results = {}
        for name, where in (("all days", ""), ("one day", f" WHERE day = '{one_day}'")):
            walls, scanned, peaks = [], 0, []
            for _ in range(3):
                reset_hwm(pid)
                wall, scanned = run_query(athena, AGGREGATE.format(where=where))
                walls.append(wall)
                peaks.append(vm_hwm_mib(pid))
            results[name] = (statistics.median(walls), scanned, max(peaks))
        base_all, base_one = baseline(days, Path(tmp) / "orders", one_day)

    print(
        f"server RSS before the queries (moto holding the {total_bytes / 1e6:.0f} MB in S3): {idle:.0f} MiB"
    )
    all_wall, all_bytes, all_peak = results["all days"]
    one_wall, one_bytes, one_peak = results["one day"]
    header = ("query", "wall (median of 3)", "bytes scanned", "server peak RSS", "baseline wall")
    print(f"{header[0]:<10} {header[1]:>19} {header[2]:>15} {header[3]:>16} {header[4]:>14}")
    print(f"{'all days':<10} {all_wall:>17.3f} s {all_bytes:>15,} {all_peak:>12.0f} MiB {base_all:>12.3f} s")
    print(f"{'one day':<10} {one_wall:>17.3f} s {one_bytes:>15,} {one_peak:>12.0f} MiB {base_one:>12.3f} s")
    ratio = one_bytes / all_bytes
    print(
        f"one-day bytes / all-days bytes: {ratio:.4f} (goal 1/{DAYS} = {1 / DAYS:.4f}) "
        f"-> {'met' if abs(ratio - 1 / DAYS) < 0.002 else 'NOT met'}"
    )
    print(
        f"all-days aggregate: {all_wall:.2f} s for {args.rows:,} rows (goal <= {GOAL_SECONDS:.0f} s) "
        f"-> {'met' if all_wall <= GOAL_SECONDS else 'NOT met'}"
    )
    print(
        f"engine / baseline wall: all days {all_wall / base_all:.1f}x, one day {one_wall / base_one:.1f}x "
        "(baseline: DuckDB over the same files on local disk)"
    )
    print(
        f"bytes scanned are the objects read: all days {all_bytes:,} = {total_bytes:,} bytes of CSV "
        f"-> {'exact' if all_bytes == total_bytes else 'MISMATCH'}"
    )


if __name__ == "__main__":
    main()
