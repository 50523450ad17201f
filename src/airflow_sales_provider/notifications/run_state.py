"""What a run summary reads about its run: task instances, XComs, the run's URL in the UI.

Airflow 2, and Airflow 3 code outside a supervisor (``dag.test()`` DAG callbacks), read the metadata
database; Airflow 3 under a supervisor asks the Execution API. Which Airflow runs is decided in
:mod:`airflow_sales_provider.compat` (``AIRFLOW_V_3_0_PLUS`` and its task-SDK probes), not here.
"""

from __future__ import annotations

from typing import Any

from airflow_sales_provider.compat import (
    AIRFLOW_V_3_0_PLUS,
    conf,
    context_value,
    previous_ti_query,
    supervisor_comms,
)


def ui_base_url() -> str:
    """Airflow's configured UI base URL: ``[api] base_url`` on Airflow 3, ``[webserver] base_url`` on 2."""
    section = "api" if AIRFLOW_V_3_0_PLUS else "webserver"
    return str(conf.get(section, "base_url", fallback="") or "").rstrip("/")


def dag_run_url(dag_id: str, run_id: str) -> str | None:
    """Link to a DAG run in the UI (Airflow 3: the run page; Airflow 2: the grid view of the run)."""
    from urllib.parse import quote, urlencode

    base = ui_base_url()
    if not base:
        return None
    if AIRFLOW_V_3_0_PLUS:
        return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{base}/dags/{quote(dag_id, safe='')}/grid?{urlencode({'dag_run_id': run_id})}"


def run_task_instances(dag_id: str, run_id: str, logical_date: Any = None) -> list[dict[str, Any]]:
    """``task_id``, ``state``, ``try_number`` and ``map_index`` of every task instance of a run.

    Airflow 2, and Airflow 3 code outside a supervisor (``dag.test()`` DAG callbacks): the metadata DB.
    Airflow 3 under a supervisor (tasks, DAG-processor callbacks): the Execution API, states through
    ``get_task_states``, try numbers through the "previous TI" query asked for the instant just after
    the run's logical date (``None`` when the run has no logical date, the server cannot answer, or on
    Airflow 3.0.x, whose Execution API has no such query).
    """
    comms = supervisor_comms()
    if comms is None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = (
                session.query(
                    TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number, TaskInstance.map_index
                )
                .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
                .all()
            )
        return [
            {
                "task_id": task_id,
                "state": None if state is None else str(getattr(state, "value", state)),
                "try_number": try_number,
                "map_index": map_index,
            }
            for task_id, state, try_number, map_index in rows
        ]

    from datetime import timedelta

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    GetPreviousTI = previous_ti_query()

    states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id]).get(run_id) or {}
    result = []
    for task_id, state in states.items():
        try_number = None
        if logical_date is not None and GetPreviousTI is not None:
            try:
                found = comms.send(
                    GetPreviousTI(
                        dag_id=dag_id, task_id=task_id, logical_date=logical_date + timedelta(microseconds=1)
                    )
                ).task_instance
                if found is not None and found.run_id == run_id:
                    try_number = found.try_number
            except Exception:  # older servers: states only
                try_number = None
        result.append(
            {
                "task_id": task_id,
                "state": None if state is None else str(getattr(state, "value", state)),
                "try_number": try_number,
                "map_index": -1,
            }
        )
    return result


def run_xcom_values(context: Any, key: str, task_ids: list[str]) -> dict[str, Any]:
    """XCom values pushed under ``key`` by ``task_ids`` in the context's run, by task id.

    Through the context's task instance where it can pull (Airflow 2; Airflow 3 under a supervisor),
    from the metadata DB for Airflow 3 code outside one (``dag.test()`` DAG callbacks).
    """
    dag_run = context_value(context, "dag_run")
    run_id = context_value(context, "run_id") or getattr(dag_run, "run_id", None)
    dag = context_value(context, "dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
    if AIRFLOW_V_3_0_PLUS and supervisor_comms() is None:
        from airflow.models.xcom import XComModel  # type: ignore[attr-defined]
        from airflow.utils.session import create_session

        with create_session() as session:
            rows: Any = session.scalars(
                XComModel.get_many(run_id=str(run_id), key=key, dag_ids=dag_id, task_ids=task_ids)
            ).all()
            return {row.task_id: XComModel.deserialize_value(row) for row in rows}
    ti = context_value(context, "ti")
    values = {}
    if ti is None and AIRFLOW_V_3_0_PLUS and dag_id and run_id:
        # Airflow 3 DAG-processor callbacks without a last task instance: ask the XCom backend directly.
        from airflow.sdk.execution_time.xcom import XCom

        for task_id in task_ids:
            value = XCom.get_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id)
            if value is not None:
                values[task_id] = value
        return values
    if ti is None:
        return {}
    for task_id in task_ids:
        value = ti.xcom_pull(task_ids=task_id, key=key)
        if value is not None:
            values[task_id] = value
    return values
