"""The one place that knows whether this is Airflow 2 or Airflow 3.

Everything else in the package imports Airflow's base classes, exceptions and helpers from here,
so no other module branches on the Airflow version.
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as _airflow_version
from airflow.triggers.base import BaseTrigger, TriggerEvent  # core on both lines: triggers run there
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= Version("3.0.0")

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator, BaseSensorOperator
    from airflow.sdk.bases.sensor import PokeReturnValue
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
    from airflow.sdk.log import mask_secret
else:
    from airflow.configuration import conf  # type: ignore[no-redef,attr-defined]
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralError,
        TaskDeferred,
    )
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef,attr-defined]
    from airflow.notifications.basenotifier import BaseNotifier  # type: ignore[no-redef,attr-defined]
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef,attr-defined]

    class TaskDeferralTimeout(TaskDeferralError):  # type: ignore[no-redef]
        """Airflow 3's deferral-timeout exception; Airflow 2 raises ``TaskDeferralError`` instead."""


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
    "conf",
    "context_value",
    "current_task_state",
    "default_deferrable",
    "mask_secret",
]
