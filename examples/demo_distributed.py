"""``make demo-distributed``: three days of the daily sales pipeline at once on CeleryExecutor.

The shape MWAA runs: ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two Celery
workers (``w1``, ``w2``, concurrency 2), each its own process, a PostgreSQL metadata database of the
demo's own (on the machine's PostgreSQL; ``SALES_DISTRIBUTED_POSTGRES_URI`` names another), a private
``redis-server`` as the broker, and the sandbox (moto, warehouse, Slack) as in ``make demo``
(``examples/celery_cluster.py`` builds it all). The three runs are triggered through the REST API; the
demo prints where everything is, which worker ran each task, the summary ``make demo`` prints, and tears
everything down (also on Ctrl-C). ``--hold`` keeps the cluster and its UI up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import celery_cluster  # noqa: E402
import demo  # noqa: E402

HOME = demo.REPO / ".airflow" / "demo-distributed"
RUN_TIMEOUT = 900.0


def trigger_days(cluster: celery_cluster.CeleryCluster, days: Any) -> dict[str, str]:
    cluster.api.unpause(demo.DAG_ID)
    run_ids = {}
    for day in days:
        run_id = f"celery__{day.isoformat()}"
        cluster.api.trigger(demo.DAG_ID, run_id, f"{day.isoformat()}T00:00:00+00:00")
        run_ids[run_id] = day.isoformat()
    return run_ids


def wait_for_runs(
    cluster: celery_cluster.CeleryCluster, run_ids: dict[str, str], clock: demo.Clock, stop: threading.Event
) -> dict[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT
    seen: set[tuple[str, str]] = set()
    states: dict[str, str] = {}
    while time.monotonic() < deadline and not stop.is_set():
        cluster.check_alive()
        try:
            task_instances = cluster.api.task_instances(demo.DAG_ID)  # every run's, one request
            every_run = cluster.api.run_states(demo.DAG_ID)
        except OSError:  # the API server too busy to answer in time: ask again
            stop.wait(2)
            continue
        for ti in task_instances:
            run_id, day = ti["dag_run_id"], run_ids.get(ti["dag_run_id"], "")
            key = (run_id, f"{ti['task_id']}:{ti['state']}:{ti['try_number']}")
            if ti["state"] in ("success", "failed", "deferred") and key not in seen:
                seen.add(key)
                clock.say(f"  {day} {ti['task_id']:<18} {ti['state']:<8} on {ti['hostname']}")
        states = {run_id: every_run.get(run_id, "missing") for run_id in run_ids}
        if all(state in ("success", "failed") for state in states.values()):
            return states
        clock.busy(f"{sum(s == 'success' for s in states.values())} of 3 runs done")
        stop.wait(2)
    raise RuntimeError(f"the runs did not finish within {RUN_TIMEOUT:.0f}s (logs: {cluster.logs})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="examples/demo_distributed.py", description=__doc__.splitlines()[0])
    parser.add_argument("--hold", action="store_true", help="keep the cluster and its UI up until Ctrl-C")
    args = parser.parse_args(argv)
    for reason in (celery_cluster.redis_unavailable(), celery_cluster.postgres_unavailable()):
        if reason:
            print(f"demo-distributed: {reason}", file=sys.stderr)
            return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    clock = demo.Clock()
    from airflow_sales_provider.sandbox import Sandbox, sales_data

    states: dict[str, str] = {}
    clock.say("starting the sandbox (moto server, embedded PostgreSQL, Slack receiver)")
    with Sandbox() as sandbox:
        cluster = celery_cluster.CeleryCluster(sandbox, HOME)
        try:
            clock.say("starting Airflow on CeleryExecutor: metadata DB, broker, 4 components, 2 workers")
            clock.busy("starting the cluster")
            cluster.start()
            clock.phase("sandbox and cluster start")
            print_where(cluster)
            config = sales_data.sandbox_config()
            files = [f for f in sales_data.generate() if not f.late]
            sales_data.seed_sandbox(sandbox, config, files)
            run_ids = trigger_days(cluster, sales_data.DEFAULT_DAYS)
            clock.say(f"triggered {', '.join(run_ids)} through POST /api/v2/dags/{demo.DAG_ID}/dagRuns")
            states = wait_for_runs(cluster, run_ids, clock, stop)
            clock.phase("three runs")
            demo.print_summary(sandbox, config, clock)
            if args.hold and not stop.is_set():
                clock.stop()
                print(f"\ndemo-distributed: UI at {cluster.api_url} (admin / admin); Ctrl-C stops everything")
                while not stop.wait(1):
                    cluster.check_alive()
        finally:
            clock.say("stopping the cluster (every component's process group), the broker and the sandbox")
            cluster.stop()
    total = clock.stop()
    print("\nwhere the time went: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in clock.phases))
    print(f"total wall time: {total:.1f}s; component logs kept in {cluster.logs}")
    failed = [run_id for run_id, state in states.items() if state != "success"]
    if failed or not states:
        print(f"demo-distributed: FAILED runs: {', '.join(failed) or 'none finished'}", file=sys.stderr)
        return 1
    return 0


def print_where(cluster: celery_cluster.CeleryCluster) -> None:
    print(f"  UI and REST API   {cluster.api_url}  (login admin / admin)")
    print(f"  metadata database {cluster.database.uri}  (dropped at the end)")
    print(f"  Celery broker     {cluster.redis.url}  (private redis-server)")
    for name, component in cluster.components.items():
        pid = component.process.pid if component.process else "-"
        print(f"  {name:<17} pid {pid:<8} log {component.log}")
    print(f"  task logs         {cluster.home / 'logs'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
