"""Records every AWS API call this provider's code makes during a test session (pytest plugin).

botocore's and aiobotocore's clients are wrapped once per session; a call counts when the stack that
made it runs through ``src/airflow_sales_provider`` (not its sandbox) or ``examples/``, i.e. when an
operator, sensor, trigger, hook or example DAG made it, directly or through a provider hook. Calls the
tests make to set up fixtures do not count. ``tests/release/test_mwaa_kit.py`` checks that the MWAA
execution-role policy grants each recorded call; it is moved to the end of the session so that every
integration and system test has run by then (tests marked ``after_aws_calls``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = (str(REPO / "src" / "airflow_sales_provider"), str(REPO / "examples"))
NOT_OURS = (str(REPO / "src" / "airflow_sales_provider" / "sandbox"),)
# (IAM service prefix, operation name) → how many calls
RECORDED: dict[tuple[str, str], int] = {}
# Set when a test that talks to AWS (the sandbox's moto server) ran in this session.
SESSION = {"aws_tests_ran": False}


def _made_by_us() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(OURS) and not filename.startswith(NOT_OURS):
            return True
        frame = frame.f_back
    return False


def _record(client, operation_name: str) -> None:
    if _made_by_us():
        key = (client.meta.service_model.endpoint_prefix, operation_name)
        RECORDED[key] = RECORDED.get(key, 0) + 1


def _wrap_sync() -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        _record(self, operation_name)
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = _make_api_call


def _wrap_async() -> None:
    try:
        from aiobotocore.client import AioBaseClient
    except ImportError:  # the triggers' tests need aiobotocore; without it they fail on their own
        return

    original = AioBaseClient._make_api_call

    async def _make_api_call(self, operation_name, api_params):
        _record(self, operation_name)
        return await original(self, operation_name, api_params)

    AioBaseClient._make_api_call = _make_api_call


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "after_aws_calls: runs after every other test, on the AWS calls recorded"
    )
    _wrap_sync()
    _wrap_async()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker("after_aws_calls")]
    items[:] = [item for item in items if item not in last] + last


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "sales_sandbox" in getattr(item, "fixturenames", ()) or "sandbox" in getattr(item, "fixturenames", ()):
        SESSION["aws_tests_ran"] = True
