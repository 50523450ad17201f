"""Data-aware scheduling in tests: the scheduler's own asset-event handling, then the run it created.

``dag.test()`` runs one DAG; it does not create the runs of DAGs scheduled on the assets it updates (on
Airflow 3 nor on 2). A real task run records the asset event and queues every unpaused DAG scheduled on
the asset (``AssetDagRunQueue``), as in production; the scheduler's next loop then creates the
downstream run. Here that loop step is the scheduler's own ``_create_dagruns_for_dags``, and the run it
created is executed by ``dag.test()``'s own task loop (its "get or create a run" step hands back that
run instead of making a manual one). The same code works on Airflow 2.10 and 3.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.system.dagrun import DagRunResult, _like_a_real_task_run, _register_fab_models, load_dag

if TYPE_CHECKING:
    from collections.abc import Iterator


def register_dag_file(file_name: str, *, unpause: list[str]) -> None:
    """Parse one file of the dags folder into the metadata DB (DAGs, asset references, aliases), as the
    DAG processor does, and unpause ``unpause`` (DAGs are created paused)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    path = str(folder / file_name)
    with _write_every_parse():
        if not AIRFLOW_V_3_0_PLUS:
            from airflow.models.dagbag import DagBag

            bag = DagBag(dag_folder=path, include_examples=False)
            assert not bag.import_errors, bag.import_errors
            bag.sync_to_db()
        else:
            from airflow.dag_processing.bundles.manager import DagBundlesManager

            DagBundlesManager().sync_bundles_to_db()
            try:  # Airflow 3.1+
                from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
            except ImportError:  # Airflow 3.0.x: the bag writes itself
                from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

                bag = DagBag(dag_folder=path, include_examples=False, bundle_path=folder)
                assert not bag.import_errors, bag.import_errors
                bag.sync_to_db("dags-folder", None)
            else:
                # bundle_path: the same relative file location as the DAG processor and dag.test() record
                bag = DagBag(dag_folder=path, bundle_path=folder, bundle_name="dags-folder")
                assert not bag.import_errors, bag.import_errors
                sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id.in_(unpause)).values(is_paused=False))


@contextlib.contextmanager
def _write_every_parse() -> Iterator[None]:
    """Airflow skips rewriting a DAG serialized less than 30 s ago (``min_serialized_dag_update_interval``);
    the sandbox's port, part of an asset URI, may have changed since, so this parse must be written.
    Airflow 3.1+ reads the option when it writes, 2.10 and 3.0.x when ``airflow.settings`` is imported."""
    from airflow import settings

    saved_env = os.environ.get("AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL")
    saved_setting = getattr(settings, "MIN_SERIALIZED_DAG_UPDATE_INTERVAL", None)
    os.environ["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"] = "0"
    if saved_setting is not None:
        settings.MIN_SERIALIZED_DAG_UPDATE_INTERVAL = 0
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL", None)
        else:
            os.environ["AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"] = saved_env
        if saved_setting is not None:
            settings.MIN_SERIALIZED_DAG_UPDATE_INTERVAL = saved_setting


def create_asset_triggered_runs() -> None:
    """One step of the scheduler loop: create the DAG runs due, asset-triggered ones included."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import prohibit_commit

    runner = SchedulerJobRunner(job=Job())
    with create_session() as session, prohibit_commit(session) as guard:
        runner._create_dagruns_for_dags(guard, session)
        guard.commit()


def dag_runs(dag_id: str) -> list[Any]:
    """The DAG's runs, oldest first, detached from any session."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id).all()
        session.expunge_all()
    return runs


def triggering_events(dag_id: str, run_id: str) -> list[tuple[str, str | None, str | None]]:
    """``(asset uri, source dag id, source run id)`` of the asset events a run consumed."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        events = getattr(run, "consumed_asset_events", None)
        if events is None:  # Airflow 2: datasets
            events = run.consumed_dataset_events
        return [
            (
                (getattr(event, "asset", None) or getattr(event, "dataset", None)).uri,
                event.source_dag_id,
                event.source_run_id,
            )
            for event in events
        ]


def asset_events(source_dag_id: str, source_run_id: str) -> list[tuple[str, dict]]:
    """``(asset uri, extra)`` of the asset (dataset) events a run's tasks emitted."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.asset import AssetEvent as Event
    except ImportError:  # Airflow 2
        from airflow.models.dataset import DatasetEvent as Event  # type: ignore[no-redef]

    with create_session() as session:
        events = (
            session.query(Event)
            .filter(Event.source_dag_id == source_dag_id, Event.source_run_id == source_run_id)
            .all()
        )
        return [
            ((getattr(e, "asset", None) or getattr(e, "dataset", None)).uri, dict(e.extra or {}))
            for e in events
        ]


def run_existing_dag_run(dag_id: str, file_name: str, run_id: str) -> DagRunResult:
    """Execute a run the scheduler created, with ``dag.test()``'s own task loop."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS

    _register_fab_models()
    dag = load_dag(dag_id, file_name)
    (run,) = [r for r in dag_runs(dag_id) if r.run_id == run_id]
    date_arg = "logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date"
    logical_date = getattr(run, "logical_date", None) if AIRFLOW_V_3_0_PLUS else run.execution_date
    with _hand_back_run(run_id), _like_a_real_task_run():
        dag_run = dag.test(**{date_arg: logical_date})
    assert dag_run.run_id == run_id
    with create_session() as session:
        rows = (
            session.query(TaskInstance.task_id, TaskInstance.state)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .all()
        )
    return DagRunResult(
        state=str(getattr(dag_run.state, "value", dag_run.state)),
        task_states={task_id: str(getattr(s, "value", s)) if s else None for task_id, s in rows},
        run_id=run_id,
    )


@contextlib.contextmanager
def _hand_back_run(run_id: str) -> Iterator[None]:
    """``dag.test()``'s "get or create" step returns the existing run, started as the scheduler does."""
    from airflow.models import dag as dag_module
    from airflow.models import dagrun as dagrun_module
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState

    # Airflow 3.1+: airflow.models.dagrun.get_or_create_dagrun; 2.10 and 3.0.x: airflow.models.dag's
    if hasattr(dagrun_module, "get_or_create_dagrun"):
        module, name = dagrun_module, "get_or_create_dagrun"
    else:
        module, name = dag_module, "_get_or_create_dagrun"

    def existing(*args: Any, **kwargs: Any) -> Any:
        dag = kwargs.get("dag", args[0] if args else None)
        session = kwargs.get("session") or args[5]
        run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
        run.state = DagRunState.RUNNING
        session.commit()
        run.dag = dag
        return run

    original = getattr(module, name)
    setattr(module, name, existing)
    try:
        yield
    finally:
        setattr(module, name, original)
