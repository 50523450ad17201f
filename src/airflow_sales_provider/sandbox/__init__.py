"""A local sandbox for the provider's tests, ``make demo``, and your own DAG tests.

It starts, on free loopback ports, a moto server (real HTTP AWS, whose Athena runs queries over the
S3 data in the Glue catalog), an embedded PostgreSQL (the warehouse stand-in) and a Slack webhook
receiver, and exports matching ``AIRFLOW_CONN_*`` variables::

    from airflow_sales_provider.sandbox import Sandbox

    with Sandbox() as sandbox, sandbox.environment():
        ...  # aws_default, warehouse_default / redshift_default, slack_webhook_default now point here

Installing ``airflow-sales-provider[sandbox]`` also gives pytest the ``sales_sandbox`` fixtures, and
``python -m airflow_sales_provider.sandbox up`` runs one until Ctrl-C.
"""

from __future__ import annotations

from airflow_sales_provider.sandbox._process import SandboxError
from airflow_sales_provider.sandbox.athena.client import AthenaQueryFailed
from airflow_sales_provider.sandbox.core import Sandbox
from airflow_sales_provider.sandbox.slack import Reply, SlackReceiver

__all__ = ["AthenaQueryFailed", "Reply", "Sandbox", "SandboxError", "SlackReceiver"]
