"""Benchmark: RedshiftLoadOperator (S3 -> PostgreSQL) against a raw ``COPY FROM`` of the same local file.

Both sides load the same N synthetic sales rows (CSV, ~60 bytes a row) into an identical empty table of
the sandbox's embedded PostgreSQL:

- ``baseline``: ``COPY sales FROM STDIN`` fed from the local file (psycopg2 ``copy_expert``): the physical
  limit, no S3, no staging, no ledger;
- ``operator``: ``RedshiftLoadOperator(mode="append").execute()`` reading the object from the moto server:
  S3 GET streamed into ``COPY ... FROM STDIN`` of a temp staging table, ``INSERT ... SELECT`` into the
  target, the ledger row, one transaction.

Each measurement runs in a fresh child process, so its peak RSS (``VmHWM``) is its own; an
``imports only`` child shows what Python + Airflow + boto3 + psycopg cost before any row is read.

    .venv/af3/bin/python benchmarks/load_throughput.py            # 1 M and 10 M rows
    .venv/af3/bin/python benchmarks/load_throughput.py --quick    # 50 k and 200 k rows
    .venv/af3/bin/python benchmarks/load_throughput.py --sizes 1000000

Each size is measured 3 times, alternating baseline and operator; the best time of each is compared
(the maximum peak RSS is reported). The operator's time is its whole ``execute()``: connection and hook
set-up, S3 listing and probing, staging, the mode's SQL, the ledger and the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUCKET = "bench-sales"
KEY = "sales/sales.csv"
GOAL_RATIO = 0.6
GOAL_MIB = 150
REPEAT = 3
TABLE_DDL = (
    "CREATE TABLE {name} (sale_id bigint NOT NULL, store_id integer NOT NULL, sale_date date NOT NULL, "
    "product_id integer, quantity integer, amount numeric(12,2), currency char(3), sold_at timestamp)"
)


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w") as out:
        out.write("sale_id,store_id,sale_date,product_id,quantity,amount,currency,sold_at\n")
        chunk = []
        for i in range(rows):
            chunk.append(
                f"{i},{rng.randrange(1, 500)},2024-03-{1 + i % 28:02d},{rng.randrange(1, 100000)},"
                f"{rng.randrange(1, 20)},{rng.randrange(100, 10_000_000) / 100:.2f},EUR,"
                f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i % 59:02d}\n"
            )
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))


# --- children (the measured code) ---------------------------------------------------------------------
def child(kind: str, arg: str) -> dict:
    import psycopg2  # noqa: F401
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401

    from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

    if kind == "imports":
        return {"rows": 0}
    if kind == "baseline":
        import psycopg2

        conn = psycopg2.connect(os.environ["BENCH_WAREHOUSE_URI"])
        start = time.perf_counter()
        with conn, conn.cursor() as cur, open(arg, "rb") as source:
            cur.copy_expert("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)", source, size=1 << 20)
            rows = cur.rowcount
        elapsed = time.perf_counter() - start
        conn.close()
        return {"rows": rows, "seconds": elapsed}
    op = RedshiftLoadOperator(
        task_id="bench",
        redshift_conn_id="warehouse_default",
        s3_bucket=BUCKET,
        s3_keys=[arg],
        table="bench_loaded",
        schema="public",
        mode="append",
    )
    ctx = {"ti": type("TI", (), {"dag_id": "bench", "run_id": f"bench_{time.time()}", "try_number": 1})()}
    start = time.perf_counter()
    result = op.execute(ctx)  # type: ignore[arg-type]
    return {"rows": result["rows_loaded"], "seconds": time.perf_counter() - start}


def own_peak_rss_mib() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries the parent's
    high-water mark over fork + exec into the child's, which would count the parent's memory."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_child(kind: str, arg: str = "") -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, _usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (50 k and 200 k rows)")
    parser.add_argument("--sizes", type=int, nargs="*", help="row counts to run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({**child(*args.child), "peak_rss_mib": own_peak_rss_mib()}))
        return
    sizes = args.sizes or ([50_000, 200_000] if args.quick else [1_000_000, 10_000_000])

    from airflow_sales_provider.sandbox import Sandbox

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    os.environ.setdefault("AIRFLOW_HOME", str(workdir / "airflow"))
    with Sandbox(slack=False) as sandbox, sandbox.environment():
        os.environ["BENCH_WAREHOUSE_URI"] = sandbox.warehouse_uri
        s3 = sandbox.boto3_client("s3")
        s3.create_bucket(Bucket=BUCKET)
        imports = run_child("imports")
        print(
            f"imports only: peak RSS {imports['peak_rss_mib']:.0f} MiB (Python + Airflow + boto3 + psycopg)"
        )
        for rows in sizes:
            path = workdir / f"sales_{rows}.csv"
            make_csv(path, rows)
            size_mb = path.stat().st_size / 1e6
            key = f"sales/{rows}.csv"
            s3.upload_file(str(path), BUCKET, key)
            conn = sandbox.connect_warehouse()
            conn.autocommit = True
            with conn.cursor() as cur:
                for name in ("bench_raw", "bench_loaded"):
                    cur.execute(f"DROP TABLE IF EXISTS {name}")
                    cur.execute(TABLE_DDL.format(name=name))
                cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")
            # Alternate the two, REPEAT times, and keep each one's best: the machine is shared.
            base_runs, oper_runs = [], []
            for _ in range(REPEAT):
                with conn.cursor() as cur:
                    cur.execute("TRUNCATE bench_raw, bench_loaded")
                    cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")
                base_runs.append(run_child("baseline", str(path)))
                oper_runs.append(run_child("operator", key))
            base = min(base_runs, key=lambda r: r["seconds"])
            oper = min(oper_runs, key=lambda r: r["seconds"])
            oper["peak_rss_mib"] = max(r["peak_rss_mib"] for r in oper_runs)
            base["peak_rss_mib"] = max(r["peak_rss_mib"] for r in base_runs)
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM bench_raw), (SELECT count(*) FROM bench_loaded)")
                counted = cur.fetchone()
                for name in ("bench_raw", "bench_loaded"):
                    cur.execute(f"DROP TABLE {name}")
            conn.close()
            assert counted == (rows, rows), f"row counts differ: {counted} != {rows}"
            base_rate = rows / base["seconds"]
            oper_rate = rows / oper["seconds"]
            ratio = oper_rate / base_rate
            growth = oper["peak_rss_mib"] - imports["peak_rss_mib"]
            print(
                f"{rows:>10,} rows ({size_mb:.0f} MB CSV) | raw COPY {base_rate:>9,.0f} rows/s "
                f"({base['seconds']:.1f} s, peak RSS {base['peak_rss_mib']:.0f} MiB) | operator "
                f"{oper_rate:>9,.0f} rows/s ({oper['seconds']:.1f} s, "
                f"peak RSS {oper['peak_rss_mib']:.0f} MiB, "
                f"+{growth:.0f} MiB over imports) | ratio {ratio:.2f}x "
                f"(goal >= {GOAL_RATIO}x: {'met' if ratio >= GOAL_RATIO else 'NOT met'}; "
                f"RSS goal <= {GOAL_MIB} MiB: {'met' if oper['peak_rss_mib'] <= GOAL_MIB else 'NOT met'})",
                flush=True,
            )
            path.unlink()
            s3.delete_object(Bucket=BUCKET, Key=key)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
