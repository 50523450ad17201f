"""AthenaReportTrigger without a server: serialization and registration with the provider."""

from __future__ import annotations

import importlib

from airflow_sales_provider.get_provider_info import get_provider_info
from airflow_sales_provider.triggers.athena import AthenaReportTrigger


def test_serialize_names_the_class_and_every_argument():
    trigger = AthenaReportTrigger(
        query_execution_id="q-1",
        aws_conn_id="aws_reports",
        region_name="eu-west-1",
        poll_interval=2.5,
        max_bytes_scanned=10**9,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_sales_provider.triggers.athena.AthenaReportTrigger"
    assert kwargs == {
        "query_execution_id": "q-1",
        "aws_conn_id": "aws_reports",
        "region_name": "eu-west-1",
        "poll_interval": 2.5,
        "max_bytes_scanned": 10**9,
    }
    module_name, _, class_name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_trigger_module_is_registered_with_the_provider():
    modules = [m for entry in get_provider_info()["triggers"] for m in entry["python-modules"]]
    assert "airflow_sales_provider.triggers.athena" in modules
