"""One local SparkSession for every job test, and the job scripts imported from examples/jobs/."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

JOBS = Path(__file__).resolve().parents[3] / "examples" / "jobs"
SKIP_REASON = "pyspark is the [jobs] extra, installed on the Airflow 3 line only (make test runs it there)"


def load_job(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sales_jobs_{name}", JOBS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark", reason=SKIP_REASON)
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("sales-jobs-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    # py4j logs from __del__ at interpreter exit, after logging has shut down ("--- Logging error ---")
    logging.getLogger("py4j").setLevel(logging.WARNING)
