"""Benchmark: three days of the daily sales pipeline on CeleryExecutor versus one by one with dag.test().

Both sides run in one invocation, against one sandbox (moto, warehouse, Slack), each in a schema of its
own; every store file is in place before a run starts, so no sensor waits for files.

- ``dag.test()`` (baseline): a child process runs the three days one after another with ``dag.test()``
  (tasks and triggers in that one process; SQLite metadata database), as ``make demo`` does;
- ``celery``: the local cluster of ``examples/celery_cluster.py`` (api-server, scheduler, dag-processor,
  triggerer, two Celery workers of concurrency 2, PostgreSQL metadata database, Redis broker); the three
  days are triggered at once through the REST API (the cluster policy lets them run side by side).

Printed per side: wall time of the three runs (the cluster's start-up apart), worker-slot seconds (the
sum of every task try's duration: what the runs occupy of the workers), and peak RSS per component
(sampled every 0.5 s for the cluster's process trees, ``VmHWM`` for the dag.test() child).

    .venv/af3/bin/python benchmarks/distributed.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import celery_cluster  # noqa: E402
import demo  # noqa: E402

BENCH_HOME = REPO / ".airflow" / "bench-distributed"
RUN_TIMEOUT = 900.0


def sequential_child() -> dict[str, Any]:
    """In the child: the three days one after another with dag.test(); timings and this process's VmHWM."""
    from airflow_sales_provider.sandbox import sales_data

    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    demo.install_dag(dags_folder)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    dag = demo.load_dag(dags_folder)
    slot_seconds = 0.0
    states = []
    started = time.monotonic()
    for day in sales_data.DEFAULT_DAYS:
        run = dag.test(logical_date=datetime(day.year, day.month, day.day, tzinfo=timezone.utc))
        states.append(str(getattr(run.state, "value", run.state)))
        for ti in run.get_task_instances():
            if ti.start_date and ti.end_date:
                slot_seconds += (ti.end_date - ti.start_date).total_seconds()
    wall = time.monotonic() - started
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    peak = {"dag.test process": hwm}
    return {"wall": wall, "slot_seconds": slot_seconds, "states": states, "peak_rss": peak}


def run_sequential(sandbox: Any, config: dict[str, Any]) -> dict[str, Any]:
    from airflow_sales_provider.sandbox.secrets import put_variable

    put_variable(sandbox, "sales_pipeline", config)
    home = BENCH_HOME / "dagtest"
    env = {**os.environ, **demo.airflow_environment(sandbox)}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    (home / "airflow.db").unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "--sequential-child"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise RuntimeError(f"the dag.test() child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.monotonic() - started
    return result


class RssSampler(threading.Thread):
    """Peak resident memory of each component's process tree, sampled every half second."""

    def __init__(self, cluster: celery_cluster.CeleryCluster, sandbox: Any) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.sandbox = sandbox
        self.peaks: dict[str, int] = {}
        self.warehouse_connections = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            for name, component in list(self.cluster.components.items()):
                self.peaks[name] = max(self.peaks.get(name, 0), component.rss_bytes())
            try:
                self.warehouse_connections = max(self.warehouse_connections, self._connections())
            except Exception:  # a sample lost to a busy server is only a missed sample
                continue

    def _connections(self) -> int:
        connection = self.sandbox.connect_warehouse()
        try:
            with connection.cursor() as cursor:  # every client but this one
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
                return int(cursor.fetchone()[0])
        finally:
            connection.close()


def run_celery(sandbox: Any, config: dict[str, Any]) -> dict[str, Any]:
    from airflow_sales_provider.sandbox.secrets import put_variable

    put_variable(sandbox, "sales_pipeline", config)
    with celery_cluster.CeleryCluster(sandbox, BENCH_HOME / "celery") as cluster:
        sampler = RssSampler(cluster, sandbox)
        sampler.start()
        cluster.api.unpause(demo.DAG_ID)
        run_ids = [f"bench__{day}" for day in ("2024-03-01", "2024-03-02", "2024-03-03")]
        started = time.monotonic()
        for run_id in run_ids:
            cluster.api.trigger(demo.DAG_ID, run_id, run_id.split("__")[1] + "T00:00:00+00:00")
        states: list[str] = []
        while time.monotonic() - started < RUN_TIMEOUT:
            cluster.check_alive()
            try:
                every_run = cluster.api.run_states(demo.DAG_ID)
            except OSError:  # the API server too busy to answer in time: ask again
                continue
            states = [every_run.get(run_id, "missing") for run_id in run_ids]
            if all(state in ("success", "failed") for state in states):
                break
            time.sleep(1)
        wall = time.monotonic() - started
        sampler.halt.set()
        sampler.join()
        slot_seconds = 0.0
        for run_id in run_ids:
            for ti in cluster.api.task_instances(demo.DAG_ID, run_id):
                for attempt in cluster.api.tries(demo.DAG_ID, run_id, ti["task_id"]):
                    slot_seconds += float(attempt.get("duration") or 0.0)
    return {
        "wall": wall,
        "slot_seconds": slot_seconds,
        "states": states,
        "peak_rss": sampler.peaks,
        "warehouse_connections": sampler.warehouse_connections,
    }


def report(sequential: dict[str, Any], celery: dict[str, Any]) -> None:
    mib = 1024 * 1024
    print(f"states: dag.test() {sequential['states']}, celery {celery['states']}")
    print(f"{'':34} {'dag.test() x3':>14} {'celery x3':>10} {'ratio':>7}  goal")
    print(
        f"{'wall s, three runs':34} {sequential['wall']:>14.1f} {celery['wall']:>10.1f} "
        f"{celery['wall'] / sequential['wall']:>7.2f}  <= 1.0 (the days overlap on 4 worker slots)"
    )
    print(
        f"{'worker-slot s (sum of task tries)':34} {sequential['slot_seconds']:>14.1f} "
        f"{celery['slot_seconds']:>10.1f} {celery['slot_seconds'] / sequential['slot_seconds']:>7.2f}  "
        "as low as possible (waits happen in the triggerer, not a slot)"
    )
    total_celery = sum(celery["peak_rss"].values())
    baseline = sequential["peak_rss"]["dag.test process"]
    print(
        f"{'peak RSS MiB, all components':34} {baseline / mib:>14.0f} {total_celery / mib:>10.0f} "
        f"{total_celery / baseline:>7.2f}  (the price of the distributed shape)"
    )
    for name, peak in sorted(celery["peak_rss"].items()):
        print(f"  {'peak RSS MiB, ' + name:32} {'':>14} {peak / mib:>10.0f}")
    print(f"warehouse connections at once, celery (peak, 0.5 s samples): {celery['warehouse_connections']}")
    print(f"dag.test() child process wall (imports, migrate, three runs): {sequential['process_wall']:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sequential_child:
        print(json.dumps(sequential_child()))
        return 0
    for reason in (celery_cluster.redis_unavailable(), celery_cluster.postgres_unavailable()):
        if reason:
            print(f"benchmarks/distributed.py: {reason}", file=sys.stderr)
            return 2
    from airflow_sales_provider.sandbox import Sandbox, sales_data

    with Sandbox() as sandbox:
        files = [f for f in sales_data.generate() if not f.late]
        base = sales_data.sandbox_config(env="bench")
        sales_data.seed_sandbox(sandbox, base, files)
        dagtest_config = {**base, "schema": "bench_dagtest", "glue_database": "bench_dagtest"}
        sequential = run_sequential(sandbox, dagtest_config)
        celery = run_celery(sandbox, {**base, "schema": "bench_celery", "glue_database": "bench_celery"})
    print("machine: 2 cores shared with other work; figures are noisy")
    report(sequential, celery)
    ok = set(sequential["states"]) == {"success"} and set(celery["states"]) == {"success"}
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
