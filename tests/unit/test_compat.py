"""``airflow_sales_provider.compat`` on the line under test (af3, af2, mwaa306, mwaa2103).

The names it exports must be the ones the installed Airflow and amazon provider really use, whichever
module they live in on that version; the suite on every line then exercises them for real.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from airflow_sales_provider import compat


class TestAirflowNames:
    def test_defer_raises_the_task_deferred_compat_exports(self):
        from airflow.triggers.testing import SuccessTrigger

        operator = compat.BaseOperator(task_id="t")
        with pytest.raises(compat.TaskDeferred) as raised:
            operator.defer(trigger=SuccessTrigger(), method_name="execute_complete")
        assert raised.value.method_name == "execute_complete"

    def test_base_hook_reads_connections_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_COMPAT_PROBE", "postgres://user:pw@db.example.test:5439/sales")
        conn = compat.BaseHook.get_connection("compat_probe")
        assert (conn.host, conn.port, conn.schema) == ("db.example.test", 5439, "sales")

    def test_conf_is_airflows_configuration(self):
        assert compat.conf.get("core", "dags_folder") == os.environ["AIRFLOW__CORE__DAGS_FOLDER"]


class _NewHook:
    """The amazon provider's API after 9.0.0: an awaitable ``get_async_conn``."""

    async def get_async_conn(self) -> str:
        return "client-from-get_async_conn"


class _OldHook:
    """amazon 9.0.0 (MWAA 2.10.3): only the synchronous ``async_conn`` property."""

    def __init__(self) -> None:
        self.built_on: threading.Thread | None = None

    @property
    def async_conn(self) -> str:
        self.built_on = threading.current_thread()
        return "client-from-async_conn"


class TestAwsAsyncConn:
    def test_uses_get_async_conn_where_the_provider_has_it(self):
        assert asyncio.run(compat.aws_async_conn(_NewHook())) == "client-from-get_async_conn"

    def test_falls_back_to_async_conn_off_the_event_loop_thread(self):
        hook = _OldHook()
        assert asyncio.run(compat.aws_async_conn(hook)) == "client-from-async_conn"
        assert hook.built_on is not None and hook.built_on is not threading.main_thread()

    def test_the_installed_amazon_provider_has_one_of_the_two(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook: Any = S3Hook
        assert hasattr(hook, "get_async_conn") or isinstance(getattr(hook, "async_conn", None), property), (
            "the amazon provider has neither get_async_conn() nor async_conn: extend compat.aws_async_conn"
        )
