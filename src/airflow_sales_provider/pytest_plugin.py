"""pytest fixtures for testing DAGs against the sandbox (registered through the ``pytest11`` entry point).

The plugin is loaded by every pytest run in an environment where the provider is installed, with or
without the ``sandbox`` extra. So its fixture names start with ``sales_`` (they cannot shadow a
project's own ``sandbox`` or ``warehouse``; a project's fixture of the same name wins anyway), and
loading it imports nothing but pytest: the sandbox and its services are imported when a test asks.

- ``sales_sandbox`` (session): one running :class:`~airflow_sales_provider.sandbox.Sandbox` whose
  connection variables are set in ``os.environ`` for the whole session.
- ``sales_clean_sandbox`` (function): the same sandbox, with AWS state wiped and the Slack receiver
  cleared before the test, so each test starts from empty buckets and no recorded posts.
- ``sales_slack_receiver`` (function): the cleared Slack receiver.
- ``sales_warehouse`` (function): a psycopg2 connection to the sandbox warehouse, closed after the test.

``sandbox``, ``slack_receiver`` and ``warehouse`` are the same fixtures under their earlier names,
kept for one release.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_sales_provider.sandbox import Sandbox, SlackReceiver

#: what the ``sandbox`` extra installs that the sandbox cannot start without.
EXTRA_MODULES = ("moto", "pgserver")


def missing_extra() -> list[str]:
    """The ``sandbox`` extra's modules that are not installed."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


@pytest.fixture(scope="session")
def sales_sandbox() -> Iterator[Sandbox]:
    missing = missing_extra()
    if missing:
        pytest.fail(
            f"the sales_sandbox fixture needs the provider's sandbox extra (missing: {', '.join(missing)}): "
            'pip install "airflow-sales-provider[sandbox]"',
            pytrace=False,
        )
    from airflow_sales_provider.sandbox import Sandbox

    with Sandbox() as sandbox, sandbox.environment():
        yield sandbox


@pytest.fixture
def sales_clean_sandbox(sales_sandbox: Sandbox) -> Sandbox:
    sales_sandbox.reset_aws()
    sales_sandbox.slack_receiver.clear()
    if sales_sandbox.databricks is not None:
        sales_sandbox.databricks.clear()
    return sales_sandbox


@pytest.fixture
def sales_slack_receiver(sales_clean_sandbox: Sandbox) -> SlackReceiver:
    return sales_clean_sandbox.slack_receiver


@pytest.fixture
def sales_warehouse(sales_sandbox: Sandbox) -> Iterator[Any]:
    connection = sales_sandbox.connect_warehouse()
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


# -- earlier names, kept for one release -------------------------------------------------------------------
@pytest.fixture
def sandbox(sales_clean_sandbox: Sandbox) -> Sandbox:
    """Deprecated name of ``sales_clean_sandbox``."""
    return sales_clean_sandbox


@pytest.fixture
def slack_receiver(sales_slack_receiver: SlackReceiver) -> SlackReceiver:
    """Deprecated name of ``sales_slack_receiver``."""
    return sales_slack_receiver


@pytest.fixture
def warehouse(sales_warehouse: Any) -> Any:
    """Deprecated name of ``sales_warehouse``."""
    return sales_warehouse
