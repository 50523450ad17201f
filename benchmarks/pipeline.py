"""Benchmark and proof: the daily sales pipeline, ours against one built only from official operators.

Both sides run, in one invocation and against one sandbox, what ``make demo`` runs: three days of the
seeded store files, then day 2 again after its late file landed.

- ``ours``: ``examples/dags/daily_sales_pipeline.py`` (``S3ArrivalSensor`` deferrable,
  ``RedshiftLoadOperator`` upsert, SQL clean/aggregate, ``DataQualityOperator``,
  ``AthenaReportOperator``, ``SlackNotifyOperator``);
- ``official`` (baseline): ``benchmarks/dags/official_daily_sales.py`` (``S3KeySensor``, ``S3ToSqlOperator``
  appending, ``SQLExecuteQueryOperator``, ``SQLColumnCheckOperator``/``SQLTableCheckOperator``,
  ``AthenaOperator``; its docstring says why ``S3ToSqlOperator`` stands in for ``S3ToRedshiftOperator``).

Each day runs in a child process with ``dag.test()`` (tasks and triggers in that process). The day's
files land ``--land-after`` seconds after the sensor's first look, so both sensors really wait. Printed:

- wall time of each day's run (``dag.test()``), and of the whole child process (imports, parsing);
- worker-slot seconds spent waiting: time spent inside the sensor's ``execute``/``execute_complete``
  (a poke-mode sensor sleeps there between pokes; a deferred sensor's wait happens in the triggerer);
- rows in the load target after the rerun against the distinct order lines the files hold, and the
  day-2 revenue against the value computed here from the generated files;
- peak RSS of each child (``VmHWM``).

    .venv/af3/bin/python benchmarks/pipeline.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Side:
    name: str
    dag_id: str
    dag_file: str  # file name inside the bench dags folder
    sensor: str  # "module:Class" whose execute/execute_complete time is worker-slot time
    load_table: str  # schema.table the files are loaded into
    kpi_table: str  # schema.table with one row per day: (sale_date, revenue, ...)
    rerun_conf: dict[str, Any]  # the run conf of the rerun after the late file


OURS = Side(
    name="ours",
    dag_id="daily_sales_pipeline",
    dag_file="daily_sales_pipeline.py",
    sensor="airflow_sales_provider.sensors.s3_arrival:S3ArrivalSensor",
    load_table="sales.stg_sales_lines",
    kpi_table="sales.daily_kpis",
    rerun_conf={"min_files": 1},  # the day's loaded files do not count again: only the late one is new
)
OFFICIAL = Side(
    name="official",
    dag_id="official_daily_sales",
    dag_file="official_daily_sales.py",
    sensor="airflow.providers.amazon.aws.sensors.s3:S3KeySensor",
    load_table="official_sales.raw_sales_lines",
    kpi_table="official_sales.daily_kpis",
    rerun_conf={},  # S3KeySensor sees the day's files again at once
)
SIDES = {side.name: side for side in (OURS, OFFICIAL)}
RAW_BUCKET = "sales-raw"
DESERIALIZABLE = r"(airflow|airflow_sales_provider)\..*"
REPORTS_BUCKET = "sales-reports"
LAKE_BUCKET = "sales-lake"


def own_peak_rss_mib() -> float:
    """This process's own peak RSS (``VmHWM``; ``ru_maxrss`` would carry the parent's over fork)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- child: one day of one side --------------------------------------------------------------------
def child(side: Side, ds: str, land: list[str], land_after: float, conf: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from tests.system.dagrun import run_dag

    from airflow_sales_provider.sandbox import sales_data

    module_name, class_name = side.sensor.split(":")
    sensor_class = getattr(importlib.import_module(module_name), class_name)
    slot_seconds = [0.0]
    first_look = threading.Event()

    def timed(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            first_look.set()
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                slot_seconds[0] += time.perf_counter() - start

        return wrapper

    for method_name in ("execute", "execute_complete"):
        if method_name in vars(sensor_class) or hasattr(sensor_class, method_name):
            setattr(sensor_class, method_name, timed(getattr(sensor_class, method_name)))

    bodies = {f.key: f.body() for f in sales_data.generate()}

    def land_files() -> None:
        if first_look.wait(300):
            time.sleep(land_after)
        s3 = _s3()
        for key in land:
            s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=bodies[key])

    lander = threading.Thread(target=land_files, daemon=True)
    lander.start()
    start = time.perf_counter()
    logical_date = datetime.fromisoformat(ds).replace(tzinfo=timezone.utc)
    result = run_dag(side.dag_id, side.dag_file, logical_date, run_conf=conf or None)
    seconds = time.perf_counter() - start
    return {
        "state": result.state,
        "failed": sorted(t for t, s in result.task_states.items() if s not in ("success", "skipped")),
        "run_seconds": seconds,
        "slot_seconds": slot_seconds[0],
        "peak_rss_mib": own_peak_rss_mib(),
    }


def _s3() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["BENCH_AWS_ENDPOINT"], region_name="us-east-1")


def put_config(sandbox: Any) -> None:
    """Our pipeline's ``sales_pipeline`` Variable in the sandbox's Secrets Manager (as in make demo)."""
    from airflow_sales_provider.sandbox import sales_data
    from airflow_sales_provider.sandbox.secrets import put_variable

    put_variable(sandbox, "sales_pipeline", sales_data.sandbox_config())


# --- parent -----------------------------------------------------------------------------------------
def run_child(
    env: dict[str, str], side: Side, ds: str, land: list[str], land_after: float, conf: dict[str, Any]
) -> dict[str, Any]:
    messages = Path(env["AIRFLOW_HOME"]) / f"bench-{side.name}-{ds}-{len(land)}.json"
    argv = [sys.executable, __file__, "--child", side.name, ds, json.dumps(land), str(land_after)]
    argv += [json.dumps(conf), str(messages)]
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not messages.exists():
        raise RuntimeError(f"{side.name} {ds} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = {**json.loads(messages.read_text()), "process_seconds": wall}
    if result["state"] != "success":
        log = messages.with_suffix(".log")
        log.write_text(proc.stdout + proc.stderr)
        print(f"{side.name} {ds}: run failed; its output: {log} (kept with --keep)", file=sys.stderr)
    return result


def expected_figures() -> tuple[int, Decimal]:
    """Distinct order lines in all the files, and day 2's revenue after its late file (latest version
    of each line, known store and category, non-negative amount, refunds negative)."""
    from airflow_sales_provider.sandbox import sales_data

    latest: dict[tuple[Any, int], Any] = {}
    for store_file in sales_data.generate():
        for line in store_file.lines:
            key = (line.order_id, line.line_no, line.sale_date)
            if key not in latest or line.updated_at > latest[key].updated_at:
                latest[key] = line
    day2 = sales_data.DEFAULT_DAYS[1]
    stores = {s for s, _, _ in sales_data.STORES}
    revenue = sum(
        (-line.amount if line.kind == "refund" else line.amount)
        for line in latest.values()
        if line.sale_date == day2 and line.order_id is not None and line.store_id in stores
        and line.amount >= 0 and line.category.strip().lower() in sales_data.CATEGORY_MAP
    )  # fmt: skip
    return len(latest), Decimal(revenue)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--land-after", type=float, default=3.0, help="seconds the sensors wait per day")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home (logs of failed runs)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, ds, land, land_after, conf, messages = args.child
        result = child(SIDES[name], ds, json.loads(land), float(land_after), json.loads(conf))
        Path(messages).write_text(json.dumps(result))
        return 0

    from airflow_sales_provider.sandbox import Sandbox, sales_data

    home = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    dags = home / "dags"
    shutil.copytree(REPO / "examples" / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "benchmarks" / "dags" / "official_daily_sales.py", dags)
    days = [d.isoformat() for d in sales_data.DEFAULT_DAYS]
    files = sales_data.generate()
    on_time = {ds: [f.key for f in files if f.key.startswith(f"daily/{ds}/") and not f.late] for ds in days}
    late = {ds: [f.key for f in files if f.key.startswith(f"daily/{ds}/") and f.late] for ds in days}
    results: dict[str, dict[str, Any]] = {}
    try:
        with Sandbox(workdir=home / "sandbox") as sandbox:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
            env.update(sandbox.env)
            if (dags / OURS.dag_file).exists():
                from airflow_sales_provider.sandbox.secrets import secrets_backend_env

                env.update(secrets_backend_env(sandbox))
            env.update(
                {
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                    "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": (
                        r"(airflow|airflow_sales_provider)\..*"
                    ),
                    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
                    "BENCH_AWS_ENDPOINT": sandbox.aws_endpoint_url,
                    "PYTHONPATH": str(REPO),
                }
            )
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            s3 = sandbox.boto3_client("s3")
            for side in (OFFICIAL, OURS):
                if not (dags / side.dag_file).exists():
                    print(f"{side.name}: {side.dag_file} is not in examples/dags yet: side not run")
                    continue
                sandbox.reset_aws()
                for bucket in (RAW_BUCKET, REPORTS_BUCKET, LAKE_BUCKET):
                    s3.create_bucket(Bucket=bucket)
                if side is OURS:
                    put_config(sandbox)
                for key, body in sales_data.reference_files().items():
                    s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)
                runs = {}
                for ds in days:
                    runs[ds] = run_child(env, side, ds, on_time[ds], args.land_after, {})
                    print(
                        f"{side.name:8s} {ds}: {runs[ds]['state']} in {runs[ds]['run_seconds']:.1f}s",
                        flush=True,
                    )
                rerun = days[1]
                for key in late[rerun]:
                    s3.put_object(
                        Bucket=RAW_BUCKET, Key=key, Body=next(f.body() for f in files if f.key == key)
                    )
                runs[f"{rerun} rerun"] = run_child(env, side, rerun, [], 0, side.rerun_conf)
                print(f"{side.name:8s} {rerun} rerun: {runs[f'{rerun} rerun']['state']}", flush=True)
                with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {side.load_table}")
                    rows = cursor.fetchone()[0]
                    cursor.execute(f"SELECT revenue FROM {side.kpi_table} WHERE sale_date = %s", (rerun,))
                    revenue = [r[0] for r in cursor.fetchall()]
                results[side.name] = {"runs": runs, "rows": rows, "revenue": revenue}
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    report(results, days)
    return 0


def report(results: dict[str, dict[str, Any]], days: list[str]) -> None:
    lines, revenue = expected_figures()
    labels = [*days, f"{days[1]} rerun"]
    print()
    print(f"daily sales pipeline, 3 days + rerun of {days[1]} (files land after the sensor's first look)")
    order = [name for name in ("ours", "official") if name in results]
    ratio_label = f"{'ours/official':>16s}" if len(order) == 2 else ""
    print(f"{'':28s}" + "".join(f"{name:>16s}" for name in order) + ratio_label)

    def row(label: str, values: list[float], fmt: str = "{:.1f}") -> None:
        ratio = f"{values[0] / values[1]:>15.2f}x" if len(values) == 2 and values[1] else ""
        print(f"{label:28s}" + "".join(f"{fmt.format(v):>16s}" for v in values) + ratio)

    for label in labels:
        row(f"wall s, {label}", [results[n]["runs"][label]["run_seconds"] for n in order])
    row(
        "wall s, child processes",
        [sum(r["process_seconds"] for r in results[n]["runs"].values()) for n in order],
    )
    row("worker-slot s waiting", [sum(r["slot_seconds"] for r in results[n]["runs"].values()) for n in order])
    row(
        "peak RSS MiB (max child)",
        [max(r["peak_rss_mib"] for r in results[n]["runs"].values()) for n in order],
    )
    row("rows in load target", [results[n]["rows"] for n in order], "{:.0f}")
    print(f"{'':28s}(distinct order lines in the files: {lines})")
    for n in order:
        states = ", ".join(f"{label}: {r['state']}" + (f" {r['failed']}" if r["failed"] else "")
                           for label, r in results[n]["runs"].items())  # fmt: skip
        print(
            f"{n}: runs {states}; {days[1]} revenue after rerun {results[n]['revenue']} (expected {revenue})"
        )


if __name__ == "__main__":
    sys.exit(main())
