"""Benchmark: an Athena result published as a JSON Lines report, against fetching it into a list.

Both sides read the same N-row result seeded into the sandbox's moto server:

- ``operator``: ``AthenaReportOperator(report_format="jsonl").execute()`` (start, poll, stream Athena's
  result CSV into a multipart upload);
- ``baseline``: the common pattern, ``AthenaHook.run_query`` + ``poll_query_status`` then every page of
  ``AthenaHook.get_query_results_paginator`` collected in a list.

Each measurement runs in a fresh child process, so its peak RSS (``VmHWM``) is its own; the
``imports`` and ``clients`` children show what Python + Airflow + boto3 (and the two botocore clients)
cost before any row is read.

    .venv/af3/bin/python benchmarks/athena_report.py            # 100 k and 1 M rows
    .venv/af3/bin/python benchmarks/athena_report.py --quick    # 10 k and 50 k rows
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = "bench-athena-results"
REPORTS = "bench-reports"
SQL = "SELECT order_id, store_id, amount, sold_at FROM sales.orders"
GOAL_MIB = 150


def _peak_rss_mib() -> float:
    """This process's own peak RSS: ``VmHWM`` of its address space.

    Not ``ru_maxrss``: Linux carries the parent's high-water mark over ``fork``/``exec`` into it, so a
    child of a parent that built a big seed payload would report the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- children (the measured code) ---------------------------------------------------------------------


def child_imports() -> dict:
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook  # noqa: F401
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401

    from airflow_sales_provider.operators.athena_report import AthenaReportOperator  # noqa: F401

    return {"rows": 0}


def child_clients() -> dict:
    from airflow_sales_provider.hooks.athena import AthenaReportHook

    hook = AthenaReportHook(aws_conn_id="aws_default")
    hook.athena.get_conn()
    hook.s3.get_conn()
    return {"rows": 0}


def child_operator() -> dict:
    from airflow_sales_provider.operators.athena_report import AthenaReportOperator

    op = AthenaReportOperator(
        task_id="bench",
        sql=SQL,
        output_location=f"s3://{RESULTS}/q/",
        report_s3_uri=f"s3://{REPORTS}/report.jsonl",
        report_format="jsonl",
        poll_interval=0.1,
    )
    result = op.execute({"run_id": f"bench-{time.time()}"})
    return {"rows": result["row_count"]}


def child_baseline() -> dict:
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook

    hook = AthenaHook(aws_conn_id="aws_default")
    query_id = hook.run_query(
        SQL,
        query_context={"Database": "sales"},
        result_configuration={"OutputLocation": f"s3://{RESULTS}/q/"},
    )
    hook.poll_query_status(query_id, sleep_time=0)
    paginator = hook.get_query_results_paginator(query_id)
    assert paginator is not None
    pages = list(paginator)  # the common pattern: every page, kept
    rows = sum(len(page["ResultSet"]["Rows"]) for page in pages) - 1
    return {"rows": rows}


CHILDREN = {
    "imports": child_imports,
    "clients": child_clients,
    "operator": child_operator,
    "baseline": child_baseline,
}


def run_child(name: str) -> None:
    import logging

    logging.disable(logging.INFO)
    started = time.perf_counter()
    out = CHILDREN[name]()
    out["wall_s"] = time.perf_counter() - started
    out["peak_rss_mib"] = _peak_rss_mib()
    print("RESULT " + json.dumps(out), flush=True)


# --- parent (sandbox, seeding, report) ----------------------------------------------------------------


def seed(sandbox, rows: int) -> None:
    """Queue an N-row result in moto (header first), as Athena's GetQueryResults rows."""
    sandbox.reset_aws()
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=RESULTS)
    s3.create_bucket(Bucket=REPORTS)

    def cell(value: str) -> str:
        return '{"VarCharValue":"' + value + '"}'

    def row(values: list[str]) -> str:
        return '{"Data":[' + ",".join(cell(v) for v in values) + "]}"

    body_rows = [row(["order_id", "store_id", "amount", "sold_at"])]
    body_rows.extend(
        row([str(i), f"store-{i % 97:03d}", f"{(i * 37) % 10000 / 100:.2f}", "2024-03-01 12:34:56.000"])
        for i in range(rows)
    )
    payload = (
        '{"account_id":"123456789012","region":"us-east-1","results":[{"rows":['
        + ",".join(body_rows)
        + "]}]}"
    ).encode()
    del body_rows
    request = urllib.request.Request(
        f"{sandbox.aws_endpoint_url}/moto-api/static/athena/query-results",
        data=payload,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()


def measure(name: str) -> dict:
    env = dict(os.environ)
    completed = subprocess.run(
        [sys.executable, __file__, "--child", name],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{name} child failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 k and 50 k rows instead of 100 k and 1 M")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child)
        return 0

    os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow" / "bench"))
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    from airflow_sales_provider.sandbox import Sandbox

    sizes = [10_000, 50_000] if args.quick else [100_000, 1_000_000]
    print(f"Athena report benchmark: JSON Lines report vs pages collected in a list; sizes {sizes}")
    with Sandbox(postgres=False, slack=False) as sandbox, sandbox.environment():
        idle = measure("imports")
        print(f"imports only (Python + Airflow + boto3):        peak RSS {idle['peak_rss_mib']:7.1f} MiB")
        clients = measure("clients")
        print(f"imports + Athena and S3 clients, no rows:       peak RSS {clients['peak_rss_mib']:7.1f} MiB")
        results: dict[int, dict[str, dict]] = {}
        for rows in sizes:
            results[rows] = {}
            for name in ("operator", "baseline"):
                seed(sandbox, rows)
                out = measure(name)
                if out["rows"] != rows:
                    raise RuntimeError(f"{name} read {out['rows']} rows, expected {rows}")
                results[rows][name] = out
                label = "AthenaReportOperator jsonl" if name == "operator" else "get_query_results list"
                print(
                    f"{rows:>9,} rows  {label:<27} wall {out['wall_s']:7.2f} s   "
                    f"peak RSS {out['peak_rss_mib']:7.1f} MiB"
                )
            op, base = results[rows]["operator"], results[rows]["baseline"]
            print(
                f"{rows:>9,} rows  ratio operator/baseline      "
                f"wall {op['wall_s'] / base['wall_s']:7.2f} x   "
                f"peak RSS {op['peak_rss_mib'] / base['peak_rss_mib']:7.2f} x"
            )
        small, large = sizes[0], sizes[-1]
        op_small = results[small]["operator"]["peak_rss_mib"]
        op_large = results[large]["operator"]["peak_rss_mib"]
        flat = op_large - op_small
        print(
            f"operator peak RSS {small:,} -> {large:,} rows: {op_small:.1f} -> {op_large:.1f} MiB "
            f"(+{flat:.1f} MiB); goal <= {GOAL_MIB} MiB: {'met' if op_large <= GOAL_MIB else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
