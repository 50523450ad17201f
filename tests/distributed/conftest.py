"""The daily sales pipeline on a local CeleryExecutor cluster, as MWAA runs it, once per module.

Airflow 3 line (``af3``) only: the cluster is Airflow 3's (api-server, Execution API, task SDK workers)
with the Celery provider the line installs through the ``[distributed]`` extra. Other lines skip, saying
so. It needs the machine's PostgreSQL (metadata database; ``SALES_DISTRIBUTED_POSTGRES_URI``) and
``redis-server`` (a private one is started on a free port); ``make test`` installs redis-server on the
af3 line when it is missing.

``celery_pipeline`` starts the sandbox and the cluster (``examples/celery_cluster.py``) once, triggers
three days through the REST API and injects the faults while they run; the tests read what it recorded.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
LINE = os.environ.get("SALES_AIRFLOW_LINE", "")
DAG_ID = "daily_sales_pipeline"
ENV = "celery"
#: a slowed download keeps a COPY of a ~1 KB file running for seconds (sandbox/slow_objects.py)
SLOW_BYTES_PER_SECOND = 300
REDIS_OUTAGE_SECONDS = 5


def _skip_reason() -> str | None:
    if LINE != "af3":
        return (
            f"the distributed (CeleryExecutor) test runs on the af3 line only (Airflow 3 and the Celery "
            f"provider from the [distributed] extra); this is the {LINE or 'unnamed'} line"
        )
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        return "apache-airflow-providers-celery is not installed (pip install -e '.[distributed]')"
    sys.path.insert(0, str(REPO / "examples"))
    import celery_cluster

    return celery_cluster.redis_unavailable() or celery_cluster.postgres_unavailable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    if not ours:
        return
    reason = _skip_reason()
    if reason:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class CeleryRuns:
    """What the session's runs left behind, for the tests to read."""

    sandbox: Any
    files: list[Any]
    config: dict[str, Any]
    run_ids: dict[date, str]
    states: dict[str, str] = field(default_factory=dict)
    task_instances: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    tries: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    deferred_sensors: dict[str, dict[str, Any]] = field(default_factory=dict)
    killed_worker: str = ""
    killed_copy: str = ""
    killed_loads: list[str] = field(default_factory=list)  # run ids whose load_staging ran on it
    redis_outage: tuple[float, float] = (0.0, 0.0)
    slack: list[dict[str, Any]] = field(default_factory=list)
    logs: Path = REPO
    timings: dict[str, float] = field(default_factory=dict)


def wait_for(
    what: str, condition: Callable[[], Any], timeout: float, cluster: Any, *, every: float = 1.0
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        cluster.check_alive(expect_dead=tuple(cluster.dead))
        try:
            value = condition()
        except OSError:  # the API server too busy to answer in time: ask again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (logs: {cluster.logs})")
        time.sleep(every)


def _tis(cluster: Any, run_id: str) -> dict[str, dict[str, Any]]:
    return {ti["task_id"]: ti for ti in cluster.api.task_instances(DAG_ID, run_id)}


def task_log(home: Path, run_id: str, task_id: str, pattern: str = "attempt=*.log*") -> str:
    """The task's log files under the cluster's Airflow home (``pattern`` picks the tries / trigger logs)."""
    folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob(pattern)))


def trigger_log(home: Path, run_id: str, task_id: str) -> str:
    """What the triggerer(s) logged for the task's trigger (Airflow writes it beside the task's log)."""
    return task_log(home, run_id, task_id, "attempt=*.log.trigger.*.log")


def _task(cluster: Any, task_id: str) -> dict[str, dict[str, Any]]:
    """``task_id``'s task instance in every run, by run id (one request)."""
    return {ti["dag_run_id"]: ti for ti in cluster.api.task_instances(DAG_ID) if ti["task_id"] == task_id}


def _active_copy(sandbox: Any) -> tuple[int, int, str] | None:
    """(backend pid, client port, query) of the staged COPY ... FROM STDIN running in the warehouse, if any.

    Only the day's upsert into ``stg_sales_lines`` stages (its downloads are the slowed ones); the
    reference tables' loads COPY straight into their targets and are over too soon to be caught.
    """
    with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, client_port, query FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE 'COPY %%_sales_stage%%FROM STDIN%%' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    connection.close()
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def _worker_owning_port(cluster: Any, port: int) -> str | None:
    """The worker whose process tree holds the TCP connection from local ``port``."""
    import psutil

    for name in cluster.worker_names:
        component = cluster.components[name]
        if not component.alive:
            continue
        root = psutil.Process(component.process.pid)
        for member in (root, *root.children(recursive=True)):
            try:
                if any(c.laddr and c.laddr.port == port for c in member.net_connections(kind="tcp")):
                    return str(name)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return None


@pytest.fixture(scope="module")  # torn down as soon as its module ends: an idle cluster slows the rest
def celery_pipeline() -> Iterator[CeleryRuns]:
    sys.path.insert(0, str(REPO / "examples"))
    import celery_cluster

    from airflow_sales_provider.sandbox import Sandbox, sales_data

    started = time.monotonic()
    home = REPO / ".airflow" / f"{LINE}-distributed"
    with Sandbox() as sandbox:
        cluster = celery_cluster.CeleryCluster(sandbox, home)
        try:
            cluster.start()
            timings = {"start": time.monotonic() - started}
            config = sales_data.sandbox_config(env=ENV)
            files = [f for f in sales_data.generate() if not f.late]
            sales_data.seed_sandbox(sandbox, config, [])  # buckets, the Variable, reference files only
            # Athena's queries stay QUEUED, then RUNNING, for two polls each: the reports really defer.
            sandbox.moto._post(
                "/moto-api/state-manager/set-transition",
                {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}},
            )
            sandbox.moto.set_slow_objects({f"{config['raw_bucket']}/daily/": SLOW_BYTES_PER_SECOND})
            run_ids = {day: f"celery__{day.isoformat()}" for day in sales_data.DEFAULT_DAYS}
            state = CeleryRuns(sandbox, files, config, run_ids, logs=cluster.logs, timings=timings)
            cluster.api.unpause(DAG_ID)
            for day, run_id in run_ids.items():
                cluster.api.trigger(DAG_ID, run_id, f"{day.isoformat()}T00:00:00+00:00")

            # 1. Every sensor is waiting in the triggerer (no file has landed): SIGKILL the triggerer and
            #    start another; the files land only then, so the new triggerer must finish the waits.
            def sensors_deferred() -> dict[str, dict[str, Any]] | None:
                tis = _task(cluster, "wait_for_files")
                deferred = len(tis) == 3 and all(ti["state"] == "deferred" for ti in tis.values())
                return tis if deferred else None

            state.deferred_sensors = wait_for(
                "the three sensors to defer", sensors_deferred, 900, cluster, every=3
            )
            wait_for(
                "the triggerer to run the three triggers",
                lambda: all(
                    f"{run_id}/wait_for_files" in trigger_log(cluster.home, run_id, "wait_for_files")
                    for run_id in run_ids.values()
                ),
                300,
                cluster,
            )
            cluster.components["triggerer"].kill(signal.SIGKILL)
            cluster.components["triggerer"].start()
            sales_data.upload(sandbox, config, files)

            # 2. A worker is SIGKILLed while its load is inside COPY (the download is slowed to make it last).
            copy = wait_for(
                "a COPY into the staging table", lambda: _active_copy(sandbox), 900, cluster, every=0.1
            )
            victim = _worker_owning_port(cluster, copy[1])
            assert victim is not None, f"no worker holds the warehouse connection of {copy}"
            state.killed_loads = [
                run_id
                for run_id, ti in _task(cluster, "load_staging").items()
                if ti["state"] == "running" and ti["hostname"] == cluster.worker_hostname(victim)
            ]
            cluster.components[victim].kill(signal.SIGKILL)
            cluster.dead.add(victim)
            state.killed_worker, state.killed_copy = victim, copy[2]
            sandbox.moto.set_slow_objects({})

            # 3. The broker goes away for a few seconds mid-run and comes back (its queue kept on disk).
            outage_start = time.monotonic() - started
            cluster.redis.stop()
            time.sleep(REDIS_OUTAGE_SECONDS)
            cluster.redis.start()
            state.redis_outage = (outage_start, time.monotonic() - started)

            def finished() -> bool:
                every_run = cluster.api.run_states(DAG_ID)
                state.states = {run_id: every_run.get(run_id, "missing") for run_id in run_ids.values()}
                return all(s in ("success", "failed") for s in state.states.values())

            wait_for("the three runs to finish", finished, 1500, cluster, every=5)
            timings["runs"] = time.monotonic() - started - timings["start"]
            for run_id in run_ids.values():
                state.task_instances[run_id] = _tis(cluster, run_id)
                for task_id in ("load_staging", "wait_for_files", "report_csv", "report_jsonl"):
                    state.tries[(run_id, task_id)] = cluster.api.tries(DAG_ID, run_id, task_id)
            state.slack = list(sandbox.slack_receiver.messages)
            yield state
        finally:
            cluster.stop()
