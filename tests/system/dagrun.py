"""Run a DAG from the session's dags folder with ``dag.test()`` and read back its task states."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str | None]
    run_id: str


def load_dag(dag_id: str, file_name: str) -> Any:
    """Import ``file_name`` from the configured dags folder and return the DAG called ``dag_id``."""
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / file_name
    module_name = f"sales_test_dag_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"no DAG {dag_id!r} in {path}")


def run_dag(dag_id: str, file_name: str, logical_date: datetime, **kwargs: Any) -> DagRunResult:
    """``dag.test()`` the DAG, then read every task instance's state from the metadata database."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS

    _register_fab_models()
    dag = load_dag(dag_id, file_name)
    date_arg = "logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date"
    with _callbacks_see_the_error():
        dag_run = dag.test(**{date_arg: logical_date}, **kwargs)
    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.state)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id)
            .all()
        )
    return DagRunResult(
        state=str(getattr(dag_run.state, "value", dag_run.state)),
        task_states={
            task_id: str(getattr(state, "value", state)) if state else None for task_id, state in rows
        },
        run_id=dag_run.run_id,
    )


@contextlib.contextmanager
def _callbacks_see_the_error() -> Iterator[None]:
    """Give retry/failure callbacks ``context["exception"]`` as a real task run does.

    Airflow 3's task runner sets it before running the callbacks; the in-process supervisor behind
    Airflow 3.0.x's ``dag.test()`` does not (later releases do). Outside ``dag.test()`` nothing changes.
    """
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # Airflow 2: callbacks always get the exception
        yield
        return
    original = task_runner.finalize

    def finalize(ti: Any, state: Any, context: Any, log: Any, error: Any = None) -> Any:
        if error is not None and context.get("exception") is None:
            context["exception"] = error
        return original(ti, state, context, log, error)

    task_runner.finalize = finalize
    try:
        yield
    finally:
        task_runner.finalize = original


def _register_fab_models() -> None:
    """Airflow 2's dag.test() deletes an earlier run of the same date first; that delete cascades to
    dag_run_note, whose foreign key to ab_user needs the FAB models registered with SQLAlchemy."""
    try:
        import airflow.providers.fab.auth_manager.models  # noqa: F401
    except ImportError:  # Airflow 3 without the FAB provider: nothing references ab_user
        pass


@dataclass
class ArrivalObserver:
    """What an S3ArrivalSensor did during a dag.test() run in this process."""

    first_look: Any  # threading.Event, set once the sensor has listed its prefix the first time
    trigger_prefixes: list[str]  # the prefix of every S3ArrivalTrigger that ran (the task deferred)


def observe_arrival_sensor(monkeypatch: Any) -> ArrivalObserver:
    """Wrap the sensor's real listing and its trigger's real ``run`` only to observe them.

    dag.test() runs tasks and their triggers in this process on both Airflow lines, so a test can
    land files after the sensor's first look (however long DAG parsing took) and then show that the
    wait went through the trigger.
    """
    import threading

    from airflow_sales_provider.sensors import s3_arrival as sensor_module
    from airflow_sales_provider.triggers.s3_arrival import S3ArrivalTrigger

    observer = ArrivalObserver(first_look=threading.Event(), trigger_prefixes=[])
    real_list = sensor_module.list_objects_sync
    real_run = S3ArrivalTrigger.run

    def observed_list(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_list(*args, **kwargs)
        finally:
            observer.first_look.set()

    def observed_run(self: Any) -> Any:
        observer.trigger_prefixes.append(self.prefix)
        return real_run(self)

    monkeypatch.setattr(sensor_module, "list_objects_sync", observed_list)
    monkeypatch.setattr(S3ArrivalTrigger, "run", observed_run)
    return observer
