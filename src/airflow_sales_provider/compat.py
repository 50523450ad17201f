"""The one place that knows whether this is Airflow 2 or Airflow 3.

Everything else in the package imports Airflow's base classes, exceptions and helpers from here,
so no other module branches on the Airflow version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= Version("3.0.0")

try:  # Airflow 3.1+: hooks, configuration and exceptions live in the task SDK
    from airflow.sdk import BaseHook
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
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
        AirflowNotFoundException,
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
    from airflow.triggers.base import BaseTrigger, TriggerEvent

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Context as Context
    else:
        from airflow.utils.context import Context as Context  # type: ignore[no-redef,attr-defined,assignment]


# Trigger classes are resolved on first use (PEP 562): ``airflow.triggers.base`` is core on both lines, but
# importing it also loads Airflow's file, temporal and external-task triggers and pydantic serialisers,
# which a DAG file that only imports our operators must not pay for. Only ``triggers/*.py`` use them, and
# those modules are imported when a task defers (and by the triggerer).
_LAZY = {"BaseTrigger": "airflow.triggers.base", "TriggerEvent": "airflow.triggers.base"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "AirflowNotFoundException",
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
    "mask_secret",
    "redact",
]


# -- Airflow 3 task-SDK probes (used by notifications/run_state.py) -------------------------------------
def supervisor_comms() -> Any:
    """Airflow 3's task-SDK channel when running under a supervisor (task, DAG processor), else None."""
    if not AIRFLOW_V_3_0_PLUS:
        return None
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None)


def previous_ti_query() -> Any:
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
    return not AIRFLOW_V_3_0_PLUS or previous_ti_query() is not None


__all__ += ["previous_ti_query", "supervisor_comms", "tasks_see_try_numbers"]


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
