"""The provider is discoverable by Airflow and its metadata is valid, on whichever line runs the suite."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import airflow_sales_provider
from airflow_sales_provider.get_provider_info import get_provider_info


def test_entry_point_points_at_get_provider_info():
    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.module.startswith("airflow_sales")
    ]
    assert entry.load() is get_provider_info


def test_provider_info_matches_airflow_schema():
    import jsonschema
    from airflow.providers_manager import _create_provider_info_schema_validator

    info = get_provider_info()
    validator = _create_provider_info_schema_validator()
    validator.validate(info)
    assert info["package-name"] == "airflow-sales-provider"
    assert info["versions"] == [airflow_sales_provider.__version__]
    with pytest.raises(jsonschema.ValidationError):  # the validator does check: a malformed entry fails
        validator.validate({**info, "notifications": "airflow_sales_provider.notifications.slack"})


def _import_path(path: str) -> object:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def test_every_registered_module_and_class_imports():
    info = get_provider_info()
    for trigger in info["triggers"]:
        for module in trigger["python-modules"]:
            importlib.import_module(module)
    from airflow_sales_provider.compat import BaseNotifier

    for notifier in info["notifications"]:
        notifier_class = _import_path(notifier)
        assert isinstance(notifier_class, type) and issubclass(notifier_class, BaseNotifier), notifier
    for connection in info["connection-types"]:
        hook = _import_path(connection["hook-class-name"])
        assert getattr(hook, "conn_type", None) == connection["connection-type"]


def test_airflow_providers_list_shows_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
        check=True,
    )
    providers = json.loads(result.stdout[result.stdout.index("[") :])
    ours = [p for p in providers if p["package_name"] == "airflow-sales-provider"]
    assert ours, f"airflow providers list did not show the package:\n{result.stdout[-2000:]}"
    assert ours[0]["version"] == airflow_sales_provider.__version__
