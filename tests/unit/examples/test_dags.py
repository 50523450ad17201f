"""DAG integrity of every file in examples/dags: imports cleanly, no cycles, owner/retries/tags set.

Each file is parsed on its own through Airflow's DagBag, as the DAG processor does, and its parse time
is printed (``pytest -s`` not needed: the timings go to the terminal through ``capsys.disabled``).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_FILES = sorted((REPO / "examples" / "dags").glob("*.py"))
#: example files that need a provider MWAA does not preinstall, and the extra that brings it
NEEDS_EXTRA = {"databricks_notebook_daily.py": ("airflow.providers.databricks", "databricks")}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in EXAMPLE_FILES])
def test_example_dag_file_is_sound(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:  # Airflow 3.1+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2 and 3.0.x
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    module, extra = NEEDS_EXTRA.get(path.name, (None, None))
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{path.name} needs the [{extra}] extra, not installed on this Airflow line")
    # The copy in the configured dags folder (conftest.py), so relative .sql/.yaml templates resolve
    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(dags_folder / path.name))  # [core] load_examples is off (conftest)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n  parse {path.name}: {elapsed * 1000:.0f} ms, {len(bag.dags)} DAG(s)", end="")
    assert bag.import_errors == {}, bag.import_errors
    assert bag.dags, f"{path.name} defines no DAG"
    for dag_id, dag in bag.dags.items():
        dag.validate()  # raises on a cycle or a bad parameter
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.default_args.get("owner") not in (None, "", "airflow"), f"{dag_id}: owner not set"
        assert "retries" in dag.default_args, f"{dag_id}: retries not set in default_args"
        for task in dag.tasks:
            assert task.owner == dag.default_args["owner"], f"{dag_id}.{task.task_id}: owner {task.owner}"


def test_every_example_file_is_covered() -> None:
    assert {p.name for p in EXAMPLE_FILES} >= {"daily_sales_pipeline.py", "sales_smoke.py"}


def test_the_pipeline_announces_the_table_the_report_is_scheduled_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """One asset, named as the lineage module names a table: the outlet of the pipeline's publishing
    step (after both checks) and the report DAG's schedule, built from the connection at parse time."""
    from tests.system.dagrun import load_dag

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DEFAULT", "postgres://wh.example.internal:5433/analytics")
    pipeline = load_dag("daily_sales_pipeline", "daily_sales_pipeline.py")
    load_dag("sales_daily_report", "sales_daily_report.py")
    outlets = {task.task_id: [o.uri for o in task.outlets] for task in pipeline.tasks if task.outlets}
    assert outlets == {
        "publish_to_lake": ["postgres://wh.example.internal:5433/analytics/sales/daily_store_sales"]
    }
    scheduled_on = importlib.import_module("sales_test_dag_sales_daily_report").DAILY_STORE_SALES
    assert scheduled_on.uri == outlets["publish_to_lake"][0]


def test_the_pipeline_refuses_to_announce_a_table_of_another_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_sales_provider.errors import ConfigurationError
    from tests.system.dagrun import load_dag

    monkeypatch.setenv("AIRFLOW_VAR_SALES_PIPELINE", '{"schema": "sales_dev"}')
    publish = load_dag("daily_sales_pipeline", "daily_sales_pipeline.py").get_task("publish_to_lake")
    with pytest.raises(
        ConfigurationError, match="schema 'sales_dev' is not 'sales', the schema of the table"
    ):
        publish.python_callable(ds="2024-03-01", outlet_events={})  # before any I/O
