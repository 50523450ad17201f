"""Suite-wide set-up: an Airflow home per Airflow line, set before anything imports Airflow.

The sandbox fixtures (``sales_sandbox``, ``sales_clean_sandbox``, ``sales_slack_receiver``,
``sales_warehouse``, and their earlier names ``sandbox``, ``slack_receiver``, ``warehouse``) come from the
package's own pytest plugin (``airflow_sales_provider.pytest_plugin``), the ones users get too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LINE = os.environ.get("SALES_AIRFLOW_LINE", f"py{sys.version_info.major}{sys.version_info.minor}")
AIRFLOW_HOME = REPO / ".airflow" / LINE
DAGS_FOLDER = AIRFLOW_HOME / "dags"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__WEBSERVER__BASE_URL", "http://airflow.example.test")
os.environ.setdefault("AIRFLOW__API__BASE_URL", "http://airflow.example.test")
# Airflow 3 keeps bundle files under the temp dir by default, shared by every Airflow on the machine;
# make test runs two lines at once, so each line keeps its own.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"] = str(AIRFLOW_HOME / "dag_bundles")
os.environ["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP"] = r"(airflow|airflow_sales_provider)\..*"
AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)

# The DAG-run tests need every DAG file inside the configured dags folder (Airflow 3 bundles): the
# examples and the test-only DAGs are copied there, fresh, once per session.
shutil.rmtree(DAGS_FOLDER, ignore_errors=True)
shutil.copytree(REPO / "examples" / "dags", DAGS_FOLDER, ignore=shutil.ignore_patterns("__pycache__"))
# The Glue / EMR job scripts go to dags/jobs/, where an MWAA deployment keeps them next to the DAGs.
shutil.copytree(
    REPO / "examples" / "jobs", DAGS_FOLDER / "jobs", ignore=shutil.ignore_patterns("__pycache__")
)
for dag_file in (REPO / "tests" / "system" / "dags").glob("*.py"):
    shutil.copy(dag_file, DAGS_FOLDER / dag_file.name)

import pytest  # noqa: E402

# Records the AWS API calls our code makes, for the MWAA IAM policy test (tests/release/test_mwaa_kit.py).
pytest_plugins = ["tests.aws_calls"]


RELEASE_DIRS = (REPO / "tests" / "release", REPO / "tests" / "deploy")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Marks the release path's tests ``release``: ``make test`` runs them in a session of their own
    (``make test-release``), beside the lines, except the one that checks the MWAA policy against the
    AWS calls the session's other tests made (``after_aws_calls``), which stays in the first line's."""
    if item.path.is_relative_to(RELEASE_DIRS[0]) or item.path.is_relative_to(RELEASE_DIRS[1]):
        item.add_marker("release")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs the example pipelines' system tests (``example_pipeline`` marker) on the lines
    in ``SALES_EXAMPLE_LINES`` only (its ``EXAMPLE_LINES``, default af3 and af2: the newest and the
    oldest Airflow API). The MWAA lines run the daily sales pipeline and every other test; the examples'
    operators are the official providers', which the af lines already exercise. Run outside make (the
    variable unset), every line runs them."""
    example_lines = os.environ.get("SALES_EXAMPLE_LINES")
    if example_lines is None or LINE in example_lines.split():
        return
    skip = pytest.mark.skip(
        reason="example pipeline (Glue + EMR, Sparkify, Databricks): make test runs these DAGs on "
        f"EXAMPLE_LINES ({example_lines}) only, to keep make test in its time budget; {LINE} runs the daily "
        "sales pipeline and every component test"
    )
    for item in items:
        if item.get_closest_marker("example_pipeline"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite in the line's Airflow home), made once and reused."""
    import airflow

    marker = AIRFLOW_HOME / f".migrated-{airflow.__version__}"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
        )
        marker.touch()
    return AIRFLOW_HOME / "airflow.db"


@pytest.fixture
def all_output(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Any:
    """A function returning everything logged or printed so far (since its last call), at DEBUG level:
    stdlib log records (Airflow 2) and structlog's console output (Airflow 3). Tests that prove a secret
    never reaches a log line read it."""
    import logging

    caplog.set_level(logging.DEBUG)

    def read() -> str:
        out, err = capfd.readouterr()
        return caplog.text + out + err

    return read
