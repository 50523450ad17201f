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
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.sdk.log import mask_secret
else:
    from airflow.configuration import conf  # type: ignore[no-redef,attr-defined]
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef,attr-defined]
    from airflow.notifications.basenotifier import BaseNotifier  # type: ignore[no-redef,attr-defined]
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[no-redef,attr-defined]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef,attr-defined]


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable``, read when an operator is built."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def context_value(context: Any, key: str, default: Any = None) -> Any:
    """Read a key from a task context on either line (Airflow 3's Context is not a plain dict)."""
    try:
        return context[key]
    except (KeyError, TypeError):
        return default


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_VERSION",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "context_value",
    "default_deferrable",
    "mask_secret",
]
