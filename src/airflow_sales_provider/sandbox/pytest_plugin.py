"""Moved to :mod:`airflow_sales_provider.pytest_plugin` (outside this package, so that loading the plugin
does not import the sandbox); importable from here for one release."""

from __future__ import annotations

from airflow_sales_provider.pytest_plugin import (
    sales_clean_sandbox,
    sales_sandbox,
    sales_slack_receiver,
    sales_warehouse,
    sandbox,
    slack_receiver,
    warehouse,
)

__all__ = [
    "sales_clean_sandbox",
    "sales_sandbox",
    "sales_slack_receiver",
    "sales_warehouse",
    "sandbox",
    "slack_receiver",
    "warehouse",
]
