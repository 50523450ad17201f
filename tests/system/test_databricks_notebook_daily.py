"""``databricks_notebook_daily`` against the sandbox's Databricks Jobs API stand-in (dag.test())."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from airflow_sales_provider.sandbox import RunOutcome
from tests.system.dagrun import run_dag

pytest.importorskip(
    "airflow.providers.databricks",
    reason="the databricks provider ([databricks] extra) is not installed on this Airflow line",
)

pytestmark = [pytest.mark.system, pytest.mark.integration, pytest.mark.example_pipeline]

DAG_ID, FILE = "databricks_notebook_daily", "databricks_notebook_daily.py"
CONFIG = {"notebook_path": "/Repos/sales/daily_sales", "cluster_id": "0301-123456-abcde123"}


@pytest.fixture
def databricks(sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_DATABRICKS_NOTEBOOK_DAILY", json.dumps(CONFIG))
    return sandbox.databricks_jobs


@pytest.fixture
def all_output(caplog, capfd):
    caplog.set_level(logging.INFO)

    def read() -> str:
        out, err = capfd.readouterr()
        return caplog.text + out + err

    return read


def fast_polling(dag) -> None:
    """Poll every second instead of 30; no retries (a failure fails the run at once)."""
    task = dag.get_task("run_notebook")
    task.polling_period_seconds = 1
    task.retries = 0


def test_submits_the_notebook_and_polls_to_success(airflow_db, databricks, sandbox, all_output):
    result = run_dag(DAG_ID, FILE, datetime(2024, 3, 5, tzinfo=timezone.utc), prepare=fast_polling)

    assert result.state == "success", result.task_states
    (payload,) = databricks.submissions
    assert payload == {
        "run_name": "daily_sales_notebook 2024-03-05",
        "tasks": [
            {
                "task_key": "daily_sales_notebook",
                "existing_cluster_id": "0301-123456-abcde123",
                "notebook_task": {
                    "notebook_path": "/Repos/sales/daily_sales",
                    "base_parameters": {"ds": "2024-03-05"},
                    "source": "WORKSPACE",
                },
            }
        ],
    }
    (run,) = databricks.runs.values()
    assert run.polls[-1] == "TERMINATED" and "RUNNING" in run.polls  # it waited for the run to end
    assert f"{databricks.base_url}/#job/runs/{run.run_id}" in all_output()  # the run page URL
    assert sandbox.slack_receiver.messages == []


def test_a_failed_run_turns_the_task_red_with_the_state_message(airflow_db, databricks, sandbox, all_output):
    databricks.respond_with(
        RunOutcome("FAILED", state_message="Task daily_sales_notebook failed", error="NameError: sales_df")
    )

    result = run_dag(DAG_ID, FILE, datetime(2024, 3, 6, tzinfo=timezone.utc), prepare=fast_polling)

    assert result.state == "failed"
    assert result.task_states == {"run_notebook": "failed"}
    output = all_output()
    assert "NameError: sales_df" in output
    assert "FAILED" in output
    assert databricks.token not in output
    (message,) = sandbox.slack_receiver.messages
    assert "run_notebook" in json.dumps(message) and "databricks_notebook_daily" in json.dumps(message)
