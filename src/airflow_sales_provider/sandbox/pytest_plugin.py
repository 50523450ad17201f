"""pytest fixtures for testing DAGs against the sandbox (registered through the ``pytest11`` entry point).

- ``sales_sandbox`` (session): one running :class:`~airflow_sales_provider.sandbox.Sandbox` (Athena
  engine on) whose connection variables are set in ``os.environ`` for the whole session.
- ``sandbox`` (function): the same sandbox, with AWS state (and the Athena engine's queries) wiped and
  the Slack receiver cleared before the test, so each test starts from empty buckets and no recorded
  posts.
- ``slack_receiver`` (function): the cleared Slack receiver.
- ``warehouse`` (function): a psycopg2 connection to the sandbox warehouse, closed after the test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_sales_provider.sandbox import Sandbox, SlackReceiver

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def sales_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sandbox, sandbox.environment():
        yield sandbox


@pytest.fixture
def sandbox(sales_sandbox: Sandbox) -> Sandbox:
    sales_sandbox.reset_aws()
    sales_sandbox.slack_receiver.clear()
    return sales_sandbox


@pytest.fixture
def slack_receiver(sandbox: Sandbox) -> SlackReceiver:
    return sandbox.slack_receiver


@pytest.fixture
def warehouse(sales_sandbox: Sandbox) -> Iterator[Any]:
    connection = sales_sandbox.connect_warehouse()
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()
