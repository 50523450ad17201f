"""``make demo``: the daily sales pipeline for three days, then a rerun of day 2, against the local sandbox.

No Docker, no AWS account: a moto server stands in for AWS (S3, Glue, Athena, Secrets Manager), an
embedded PostgreSQL for the warehouse and a loopback receiver for Slack. The pipeline's configuration
(the Variable ``sales_pipeline``) is served by the amazon provider's ``SecretsManagerBackend`` from the
moto server, as on MWAA.

The runs use ``dag.test()`` in this one process — what ``airflow dags test`` runs — rather than four
``airflow dags test`` commands or ``airflow dags backfill``: the sandbox and Airflow are started and
imported once, no task spawns a process, and the demo can print each task as it finishes. A backfill
needs a scheduler (on Airflow 3, backfills are scheduler-driven), which would add a process and its
polling delays to every run.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker

if TYPE_CHECKING:
    from collections.abc import Callable

hookimpl = HookimplMarker("airflow")  # Airflow's listener hooks

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = REPO / ".airflow" / "demo"
DAGS_FOLDER = AIRFLOW_HOME / "dags"
OUTPUT = REPO / "demo-output"
DAG_ID = "daily_sales_pipeline"
DAG_FILE = REPO / "examples" / "dags" / f"{DAG_ID}.py"
HEARTBEAT_SECONDS = 4.0


class Clock:
    """Wall time since start, per phase, and a heartbeat so the terminal is never silent for long."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.phases: list[tuple[str, float]] = []
        self._phase_start = self.start
        self._last_output = self.start
        self.doing = "starting"
        self.doing_since = self.start
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.total = 0.0
        self._thread = threading.Thread(target=self._heartbeat, daemon=True)
        self._thread.start()

    def say(self, message: str) -> None:
        with self._lock:
            print(f"[{time.monotonic() - self.start:5.1f}s] {message}", flush=True)
            self._last_output = time.monotonic()

    def phase(self, name: str) -> None:
        """End the current phase (recorded under ``name``)."""
        now = time.monotonic()
        self.phases.append((name, now - self._phase_start))
        self._phase_start = now

    def busy(self, what: str) -> None:
        self.doing, self.doing_since = what, time.monotonic()

    def _heartbeat(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if now - self._last_output >= HEARTBEAT_SECONDS:
                self.say(f"  ... {self.doing} ({now - self.doing_since:.0f}s)")

    def stop(self) -> float:
        """Stop the heartbeat; the total is the time to the first call (make demo-ui serves after it)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.total = time.monotonic() - self.start
        return self.total


def airflow_environment(sandbox: Any) -> dict[str, str]:
    from airflow_sales_provider.sandbox.secrets import secrets_backend_env

    env = dict(sandbox.env)
    env.update(secrets_backend_env(sandbox))
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"(airflow|airflow_sales_provider)\..*",
        }
    )
    return env


def install_dag(dags_folder: Path = DAGS_FOLDER) -> None:
    """Only the pipeline in the demo's dags folder: Airflow 3's dag.test() parses the whole folder per run."""
    shutil.rmtree(dags_folder, ignore_errors=True)
    (dags_folder / "sql").mkdir(parents=True)
    shutil.copy(DAG_FILE, dags_folder / DAG_FILE.name)
    shutil.copytree(DAG_FILE.parent / "sql" / "daily_sales", dags_folder / "sql" / "daily_sales")


def migrate_metadata_db(clock: Clock) -> None:
    import subprocess

    import airflow

    marker = AIRFLOW_HOME / f".migrated-{airflow.__version__}"
    if marker.exists():
        return
    clock.say("creating the Airflow metadata database (first run only)")
    clock.busy("airflow db migrate")
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.touch()


def load_dag(dags_folder: Path = DAGS_FOLDER) -> Any:
    import importlib.util

    path = dags_folder / DAG_FILE.name
    spec = importlib.util.spec_from_file_location("demo_daily_sales_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.dag


class TaskProgress:
    """An Airflow listener: one line per task as it finishes, with its duration."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}

    def _finish(self, task_instance: Any, word: str) -> None:
        task_id = task_instance.task_id
        elapsed = time.monotonic() - self.started.pop(task_id, time.monotonic())
        self.durations[task_id] = self.durations.get(task_id, 0.0) + elapsed
        self.clock.say(f"  {word:7} {task_id:<18} {elapsed:5.2f}s")
        self.clock.busy("next task")

    # pluggy passes only the arguments a hook implementation names: the same methods fit Airflow 2 and 3.
    @hookimpl
    def on_task_instance_running(self, task_instance: Any) -> None:
        self.started.setdefault(task_instance.task_id, time.monotonic())
        self.clock.busy(f"{task_instance.task_id} running")

    @hookimpl
    def on_task_instance_success(self, task_instance: Any) -> None:
        self._finish(task_instance, "done")

    @hookimpl
    def on_task_instance_failed(self, task_instance: Any) -> None:
        self._finish(task_instance, "FAILED")


def register_listener(listener: TaskProgress) -> None:
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow 2 and 3.0.x
        from airflow.listeners.listener import get_listener_manager  # type: ignore[no-redef]
    get_listener_manager().add_listener(listener)


def run_day(dag: Any, day: Any, clock: Clock, label: str, conf: dict[str, Any] | None = None) -> str:
    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS

    logical_date = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    clock.say(f"{label}: daily_sales_pipeline for {day}" + (f" with conf {conf}" if conf else ""))
    clock.busy(f"{label} starting (creating the run; the first run also builds Airflow 3's in-process API)")
    date_arg = "logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date"
    dag_run = dag.test(**{date_arg: logical_date}, run_conf=conf)
    state = str(getattr(dag_run.state, "value", dag_run.state))
    clock.say(f"{label}: run {state}")
    clock.phase(label)
    return state


def main(after_runs: Callable[[Any], None] | None = None) -> int:
    """Run the demo; ``after_runs(sandbox)`` (make demo-ui) runs before the sandbox stops."""
    clock = Clock()
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    clock.say("starting the sandbox (moto server, embedded PostgreSQL, Slack receiver)")
    clock.busy("starting the sandbox")
    from airflow_sales_provider.sandbox import Sandbox, sales_data

    states: dict[str, str] = {}
    try:
        with Sandbox() as sandbox:
            clock.phase("sandbox start")
            os.environ.update(airflow_environment(sandbox))
            install_dag()
            clock.say("importing Airflow")
            clock.busy("importing Airflow")
            migrate_metadata_db(clock)
            config = sales_data.sandbox_config()
            files = sales_data.generate()
            sales_data.seed_sandbox(sandbox, config, files)
            clock.say(
                f"generated {len(files)} store files for {len(sales_data.DEFAULT_DAYS)} days "
                f"(seed 42); the late file for day 2 lands after the day's run"
            )
            dag = load_dag()
            register_listener(TaskProgress(clock))
            clock.phase("Airflow import, metadata DB, data")
            day1, day2, day3 = sales_data.DEFAULT_DAYS
            states["day 1"] = run_day(dag, day1, clock, "day 1")
            states["day 2"] = run_day(dag, day2, clock, "day 2")
            late = [f for f in files if f.late]
            sales_data.upload(sandbox, config, late)
            clock.say(f"late file landed: s3://{config['raw_bucket']}/{late[0].key}")
            states["day 3"] = run_day(dag, day3, clock, "day 3")
            states["day 2 rerun"] = run_day(dag, day2, clock, "day 2 rerun", conf={"min_files": 1})
            clock.busy("summarising")
            print_summary(sandbox, config, clock)
            clock.phase("summary")
            if after_runs is not None:
                clock.stop()  # the demo's timing ends here, and no heartbeat talks over the UI's lines
                after_runs(sandbox)
            clock.busy("stopping the sandbox")
        clock.phase("clean-up")
    finally:
        total = clock.stop()
    print("\nwhere the time went: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in clock.phases))
    print(f"total wall time: {total:.1f}s (goal: <= 90 s on 2 cores once the virtualenv exists)")
    failed = [label for label, state in states.items() if state != "success"]
    if failed:
        print(f"demo: FAILED runs: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def print_summary(sandbox: Any, config: dict[str, Any], clock: Clock) -> None:
    from airflow_sales_provider.sql.identifiers import quote_identifier

    schema = quote_identifier(config["schema"])
    with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            cursor.execute(sql.format(schema=schema))
            return list(cursor.fetchall())

        staged = dict(rows("SELECT sale_date::text, count(*) FROM {schema}.stg_sales_lines GROUP BY 1"))
        clean = dict(rows("SELECT sale_date::text, count(*) FROM {schema}.sales_clean GROUP BY 1"))
        files = dict(
            rows(
                "SELECT split_part(s3_key, '/', 2), count(*) FROM {schema}.sales_load_ledger "
                "WHERE s3_key LIKE 'daily/%%' GROUP BY 1"
            )
        )
        reasons: dict[str, list[str]] = {}
        for day, reason, count in rows(
            "SELECT sale_date::text, reason, count(*) FROM {schema}.sales_quarantine "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            reasons.setdefault(day, []).append(f"{count} {reason}")
        kpis = rows(
            "SELECT sale_date::text, revenue, units, orders, avg_basket, refunds FROM {schema}.daily_kpis "
            "ORDER BY 1"
        )
        # The latest run of each day (the history keeps every run: a rerun adds its own rows)
        dq_rows = rows(
            "SELECT h.partition_value, sum(CASE WHEN h.passed THEN 1 ELSE 0 END), "
            "sum(CASE WHEN NOT h.passed AND h.severity = 'warn' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN NOT h.passed AND h.severity = 'fail' THEN 1 ELSE 0 END) "
            "FROM {schema}.data_quality_history AS h WHERE h.run_id = (SELECT l.run_id FROM "
            "{schema}.data_quality_history AS l WHERE l.partition_value = h.partition_value "
            "ORDER BY l.checked_at DESC LIMIT 1) GROUP BY 1"
        )
        dq = {day: (passed, warned, failed) for day, passed, warned, failed in dq_rows}
    print("\n=== daily_sales_pipeline: summary ===")
    print(f"{'day':<11} {'files':>5} {'lines':>5} {'clean':>5}  quarantined (reason)")
    for day in sorted(staged):
        print(
            f"{day:<11} {files.get(day, 0):>5} {staged[day]:>5} {clean.get(day, 0):>5}  "
            + (", ".join(reasons.get(day, [])) or "none")
        )
    print(f"\n{'day':<11} {'revenue':>9} {'units':>5} {'orders':>6} {'avg basket':>10} {'refunds':>8}  DQ")
    for day, revenue, units, orders, basket, refunds in kpis:
        passed, warned, failed = dq.get(day, (0, 0, 0))
        print(
            f"{day:<11} {revenue:>9} {units:>5} {orders:>6} {basket:>10} {refunds:>8}  "
            f"{passed} passed, {warned} warned, {failed} failed"
        )
    s3 = sandbox.boto3_client("s3")
    OUTPUT.mkdir(exist_ok=True)
    listing = s3.list_objects_v2(Bucket=config["reports_bucket"], Prefix="daily/").get("Contents", [])
    print("\nreports:")
    for item in listing:
        target = OUTPUT / Path(item["Key"]).name
        s3.download_file(config["reports_bucket"], item["Key"], str(target))
        print(f"  s3://{config['reports_bucket']}/{item['Key']}  ->  {target.relative_to(REPO)}")
    if not listing:
        print("  none")
    messages = sandbox.slack_receiver.messages
    print(f"\nSlack messages received: {len(messages)}")
    for message in messages:
        print("  " + str(message.get("text", "")).splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
