"""The one place that knows whether this is Airflow 2 or Airflow 3.

Everything else in the package imports Airflow's base classes, exceptions and helpers from here,
so no other module branches on the Airflow version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from airflow.triggers.base import BaseTrigger, TriggerEvent  # core on both lines: triggers run there
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= Version("3.0.0")

try:  # Airflow 3.1+: hooks, configuration and exceptions live in the task SDK
    from airflow.sdk import BaseHook
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralError,
        TaskDeferralTimeout,
        TaskDeferred,
    )
except ImportError:  # Airflow 2 and 3.0.x (MWAA 2.10.3 and 3.0.6): still in core
    from airflow.configuration import conf  # type: ignore[no-redef,attr-defined]
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,assignment]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralError,
        TaskDeferred,
    )
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,assignment]

    try:
        from airflow.exceptions import TaskDeferralTimeout  # type: ignore[no-redef,attr-defined,assignment]
    except ImportError:  # Airflow 2

        class TaskDeferralTimeout(TaskDeferralError):  # type: ignore[no-redef]
            """Airflow 3's deferral-timeout exception; Airflow 2 raises ``TaskDeferralError`` instead."""


if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import BaseNotifier, BaseOperator, BaseSensorOperator
    from airflow.sdk.bases.sensor import PokeReturnValue
    from airflow.sdk.log import mask_secret

    try:  # the secrets masker's redaction, for tests that prove a secret is registered
        from airflow.sdk.log import redact
    except ImportError:  # Airflow 3.0.x
        from airflow.sdk.execution_time.secrets_masker import redact  # type: ignore[no-redef,attr-defined]

else:
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef,attr-defined]
    from airflow.notifications.basenotifier import BaseNotifier  # type: ignore[no-redef,attr-defined]
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret, redact  # type: ignore[no-redef,attr-defined]


if TYPE_CHECKING:  # the task context type, for annotations only (import it under TYPE_CHECKING too)
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Context as Context
    else:
        from airflow.utils.context import Context as Context  # type: ignore[no-redef,attr-defined,assignment]


async def aws_async_conn(hook: Any) -> Any:
    """An amazon-provider hook's aiobotocore client context: ``async with await aws_async_conn(hook)``.

    Later amazon providers build it with ``await hook.get_async_conn()``; 9.0.0 (MWAA 2.10.3) has only
    the synchronous ``hook.async_conn`` property, which reads the Airflow connection, so it runs in a
    worker thread here and the triggerer's event loop is never blocked.
    """
    get_async_conn = getattr(hook, "get_async_conn", None)
    if get_async_conn is not None:
        return await get_async_conn()
    import asyncio

    return await asyncio.to_thread(lambda: hook.async_conn)


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable``, read when an operator is built."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def context_value(context: Any, key: str, default: Any = None) -> Any:
    """Read a key from a task context on either line (Airflow 3's Context is not a plain dict)."""
    try:
        return context[key]
    except (KeyError, TypeError):
        return default


def current_task_state(task_instance: Any) -> str | None:
    """The state a trigger's task instance has now (blocking: call it through ``sync_to_async``).

    A trigger cancelled while its task is still DEFERRED is being moved (triggerer restart); any other
    state means a user acted on the task, so external work may be stopped. Airflow 3 asks the API
    server (as the amazon provider's EMR Serverless trigger does); Airflow 2 reads the metadata DB.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(
            dag_id=task_instance.dag_id,
            task_ids=[task_instance.task_id],
            run_ids=[task_instance.run_id],
            map_index=task_instance.map_index,
        )
        state = (states.get(task_instance.run_id) or {}).get(task_instance.task_id)
    else:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            state = (
                session.query(TaskInstance.state)
                .filter(
                    TaskInstance.dag_id == task_instance.dag_id,
                    TaskInstance.task_id == task_instance.task_id,
                    TaskInstance.run_id == task_instance.run_id,
                    TaskInstance.map_index == task_instance.map_index,
                )
                .scalar()
            )
    return None if state is None else str(getattr(state, "value", state))


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_VERSION",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "PokeReturnValue",
    "TaskDeferralError",
    "TaskDeferralTimeout",
    "TaskDeferred",
    "TriggerEvent",
    "aws_async_conn",
    "conf",
    "context_value",
    "current_task_state",
    "default_deferrable",
    "mask_secret",
    "redact",
]


# -- Run inspection for notifications (Slack notifier / notify operator) ----------------------------------
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


def _supervisor_comms() -> Any:
    """Airflow 3's task-SDK channel when running under a supervisor (task, DAG processor), else None."""
    if not AIRFLOW_V_3_0_PLUS:
        return None
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None)


def _previous_ti_query() -> Any:
    """The Execution API's "previous TI" request, or None where it has none (Airflow 3.0.x)."""
    try:
        from airflow.sdk.execution_time.comms import GetPreviousTI
    except ImportError:
        return None
    return GetPreviousTI


def tasks_see_try_numbers() -> bool:
    """Whether code inside a running task can learn other tasks' try numbers (not on Airflow 3.0.x).

    A function, not a constant: the probe imports the Execution API's models, which a DAG file that
    only imports our operators must not pay for.
    """
    return not AIRFLOW_V_3_0_PLUS or _previous_ti_query() is not None


def run_task_instances(dag_id: str, run_id: str, logical_date: Any = None) -> list[dict[str, Any]]:
    """``task_id``, ``state``, ``try_number`` and ``map_index`` of every task instance of a run.

    Airflow 2, and Airflow 3 code outside a supervisor (``dag.test()`` DAG callbacks): the metadata DB.
    Airflow 3 under a supervisor (tasks, DAG-processor callbacks): the Execution API, states through
    ``get_task_states``, try numbers through the "previous TI" query asked for the instant just after
    the run's logical date (``None`` when the run has no logical date, the server cannot answer, or on
    Airflow 3.0.x, whose Execution API has no such query).
    """
    comms = _supervisor_comms()
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

    GetPreviousTI = _previous_ti_query()

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
    if AIRFLOW_V_3_0_PLUS and _supervisor_comms() is None:
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


__all__ += ["dag_run_url", "run_task_instances", "run_xcom_values", "tasks_see_try_numbers", "ui_base_url"]


# -- Data-aware scheduling: Airflow 3 Assets, Airflow 2 Datasets ------------------------------------------
def asset(uri: str, extra: dict[str, Any] | None = None) -> Any:
    """An ``Asset`` (Airflow 3) or ``Dataset`` (Airflow 2) for a URI, to schedule a DAG on."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Asset

        return Asset(uri=uri, extra=extra)
    from airflow.datasets import Dataset

    return Dataset(uri=uri, extra=extra)


def asset_alias(name: str) -> Any:
    """An ``AssetAlias`` (Airflow 3) or ``DatasetAlias`` (Airflow 2.10): an outlet resolved at run time."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import AssetAlias

        return AssetAlias(name=name)
    from airflow.datasets import DatasetAlias

    return DatasetAlias(name=name)


def emit_asset_event(context: Any, alias_name: str, uri: str, extra: dict[str, Any] | None = None) -> None:
    """Record an asset (dataset) event for ``uri`` through the task's alias outlet ``alias_name``.

    Airflow registers the event when the task succeeds and queues every DAG scheduled on the URI.
    """
    outlet_events = context_value(context, "outlet_events")
    if outlet_events is None:
        raise AirflowException(f"no outlet_events in the task context: cannot emit an asset event for {uri}")
    outlet_events[asset_alias(alias_name)].add(asset(uri), extra=extra or {})


__all__ += ["asset", "asset_alias", "emit_asset_event"]
