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
    from collections.abc import Callable, Iterator
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


def run_dag(
    dag_id: str,
    file_name: str,
    logical_date: datetime,
    prepare: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> DagRunResult:
    """``dag.test()`` the DAG, then read every task instance's state from the metadata database.

    ``prepare(dag)``, when given, adjusts the loaded DAG first (e.g. shorter waits than production's).
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS

    _register_fab_models()
    dag = load_dag(dag_id, file_name)
    if prepare is not None:
        prepare(dag)
    date_arg = "logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date"
    with _like_a_real_task_run():
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
def _like_a_real_task_run() -> Iterator[None]:
    """Make Airflow 3's in-process ``dag.test()`` supervisor behave as a real task run does.

    - Retry/failure callbacks get ``context["exception"]``: the real task runner sets it before running
      them; the in-process supervisor of Airflow 3.0.x does not (later releases do).
    - A secret registered with the masker is not logged: the real supervisor logs a ``MaskSecret``
      request "(body omitted)"; the in-process one logs the value at DEBUG (3.0.x does so before the
      value is masked, so it reaches the output).
    """
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import MaskSecret
        from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms
    except ImportError:  # Airflow 2: callbacks get the exception, there is no supervisor
        yield
        return
    original_finalize, original_send = task_runner.finalize, InProcessSupervisorComms.send

    def finalize(ti: Any, state: Any, context: Any, log: Any, error: Any = None) -> Any:
        if error is not None and context.get("exception") is None:
            context["exception"] = error
        return original_finalize(ti, state, context, log, error)

    def send(self: Any, msg: Any) -> Any:
        if isinstance(msg, MaskSecret):
            log = self.log
            self.log = _BodyOmitted(log)
            try:
                return original_send(self, msg)
            finally:
                self.log = log
        return original_send(self, msg)

    task_runner.finalize, InProcessSupervisorComms.send = finalize, send
    try:
        yield
    finally:
        task_runner.finalize, InProcessSupervisorComms.send = original_finalize, original_send


class _BodyOmitted:
    """A logger that logs a request's type instead of its body, as Airflow's real supervisor does."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def debug(self, event: str, msg: Any = None, **kw: Any) -> Any:
        return self._log.debug(f"{event} (body omitted)", msg=type(msg), **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


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

    from airflow_sales_provider.hooks.s3_arrival import S3ArrivalHook
    from airflow_sales_provider.triggers.s3_arrival import S3ArrivalTrigger

    observer = ArrivalObserver(first_look=threading.Event(), trigger_prefixes=[])
    real_list = S3ArrivalHook.list_objects
    real_run = S3ArrivalTrigger.run

    def observed_list(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_list(self, *args, **kwargs)
        finally:
            observer.first_look.set()

    def observed_run(self: Any) -> Any:
        observer.trigger_prefixes.append(self.prefix)
        return real_run(self)

    monkeypatch.setattr(S3ArrivalHook, "list_objects", observed_list)
    monkeypatch.setattr(S3ArrivalTrigger, "run", observed_run)
    return observer
