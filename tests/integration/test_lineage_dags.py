"""OpenLineage events of real task runs (``dag.test()``), asserted exactly: each component says what it
read and wrote. The openlineage provider is installed on the Airflow 3 line only (Makefile AF3_EXTRAS)."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.test_athena_report import queue_rows
from tests.system.assets import asset_events, register_dag_file
from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration]
needs_openlineage = pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.openlineage") is None,
    reason="the openlineage provider is not installed on this line (installed on af3: Makefile AF3_EXTRAS)",
)

CSV_1 = b"sale_id,store_id,amount\n1,1,10.50\n2,2,20.00\n"
CSV_2 = b"sale_id,store_id,amount\n3,1,5.25\n"
#: the report task's query in tests/system/dags/lineage_facets.py, before rendering
REPORT_SQL = (
    "WITH day AS (SELECT * FROM sales.orders WHERE order_date = DATE '{{ ds }}') "
    "SELECT s.city, sum(d.amount) FROM day d JOIN ref.stores s ON s.store_id = d.store_id GROUP BY 1"
)


@pytest.fixture
def openlineage_events(tmp_path, monkeypatch):
    """The OpenLineage listener, as the provider's plugin registers it, writing events to a file."""
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener
    from airflow.sdk.listener import get_listener_manager

    events_file = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "sales_tests")
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    cached = [f for f in vars(conf).values() if hasattr(f, "cache_clear")]
    for function in cached:
        function.cache_clear()
    manager = get_listener_manager()  # the first call loads the provider's plugin, with its listener
    if not any(isinstance(p, OpenLineageListener) for p in manager.pm.get_plugins()):
        manager.add_listener(OpenLineageListener())  # plugins were loaded before the transport was set

    def read() -> list[dict]:
        if not events_file.exists():
            return []
        return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]

    yield read
    for plugin in [p for p in manager.pm.get_plugins() if isinstance(p, OpenLineageListener)]:
        manager.pm.unregister(plugin)
    for function in cached:
        function.cache_clear()


def _complete(events: list[dict], task_id: str, event_type: str = "COMPLETE") -> dict:
    (event,) = [
        e for e in events if e["eventType"] == event_type and e["job"]["name"] == f"lineage_facets.{task_id}"
    ]
    return event


def _datasets(items: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in items]


def _facet(facet: dict) -> dict:
    """A facet's own fields, without the producer and schema URLs every facet carries."""
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def run_lineage_dag(sandbox, warehouse) -> tuple[Any, str, str, str]:
    """Land two files and an Athena result, run ``lineage_facets``; returns (result, ds, namespace, db)."""
    seconds = int(datetime.now(timezone.utc).timestamp()) % (365 * 24 * 3600)
    day = datetime(2024, 6, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    ds = day.strftime("%Y-%m-%d")
    s3 = sandbox.boto3_client("s3")
    for bucket in ("lineage-raw", "athena-results", "reports"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="lineage-raw", Key=f"sales/{ds}/a.csv", Body=CSV_1)
    s3.put_object(Bucket="lineage-raw", Key=f"sales/{ds}/b.csv", Body=CSV_2)
    queue_rows(sandbox, [["city", "revenue"], ["Lyon", "15.75"]])
    postgres = sandbox.postgres
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS lineage_sales, sales_load_ledger, data_quality_history")
        cur.execute("CREATE TABLE lineage_sales (sale_id int NOT NULL, store_id int, amount numeric(10,2))")
    try:
        result = run_dag("lineage_facets", "lineage_facets.py", day)
    finally:
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS lineage_sales, sales_load_ledger, data_quality_history")
    assert result.state == "success", result.task_states
    return result, ds, f"postgres://{postgres.host}:{postgres.port}", postgres.database


@needs_openlineage
def test_every_component_reports_what_it_read_and_wrote(airflow_db, sandbox, warehouse, openlineage_events):
    _, ds, pg, db = run_lineage_dag(sandbox, warehouse)
    events = openlineage_events()

    wait = _complete(events, "wait")
    assert _datasets(wait["inputs"]) == [("s3://lineage-raw", f"sales/{ds}/")]
    assert wait["outputs"] == []

    load = _complete(events, "load")
    files = [f"sales/{ds}/a.csv", f"sales/{ds}/b.csv"]
    assert _datasets(load["inputs"]) == [("s3://lineage-raw", key) for key in files]
    (table,) = load["outputs"]
    assert (table["namespace"], table["name"]) == (pg, f"{db}.public.lineage_sales")
    assert _facet(table["outputFacets"]["outputStatistics"]) == {
        "rowCount": 3,
        "size": len(CSV_1) + len(CSV_2),
        "fileCount": 2,
    }
    lineage = _facet(table["facets"]["columnLineage"])["fields"]
    assert sorted(lineage) == ["amount", "sale_id", "store_id"]
    for column, fields in lineage.items():
        assert [(f["namespace"], f["name"], f["field"]) for f in fields["inputFields"]] == [
            ("s3://lineage-raw", key, column) for key in files
        ]
        assert fields["transformationType"] == "IDENTITY"
        assert [(t["type"], t["subtype"]) for f in fields["inputFields"] for t in f["transformations"]] == [
            ("DIRECT", "IDENTITY")
        ] * 2

    check = _complete(events, "check")
    (checked,) = check["inputs"]
    assert (checked["namespace"], checked["name"]) == (pg, f"{db}.public.lineage_sales")
    assert _facet(checked["facets"]["dataQualityAssertions"]) == {
        "assertions": [
            {
                "assertion": "row_count",
                "success": True,
                "name": "row_count",
                "severity": "error",
                "expected": ">= 1 rows",
                "actual": "3",
                "params": {},
            },
            {
                "assertion": "not_null",
                "success": True,
                "column": "sale_id",
                "name": "not_null_sale_id",
                "severity": "error",
                "expected": "<= 0 nulls",
                "actual": "0",
                "params": {},
            },
            {  # the warn check: it failed, the task did not
                "assertion": "row_count",
                "success": False,
                "name": "at_most_two_rows",
                "severity": "warn",
                "expected": "<= 2 rows",
                "actual": "3",
                "params": {},
            },
        ]
    }
    assert _facet(checked["facets"]["dataQualityMetrics"]) == {
        "rowCount": 3,
        "columnMetrics": {"sale_id": {"nullCount": 0, "quantiles": {}}},
    }
    assert _datasets(check["outputs"]) == [(pg, f"{db}.public.data_quality_history")]

    report = _complete(events, "report")
    region = "us-east-1"
    athena = f"awsathena://athena.{region}.amazonaws.com"
    assert sorted(_datasets(report["inputs"])) == [
        (athena, "AwsDataCatalog.ref.stores"),
        (athena, "AwsDataCatalog.sales.orders"),
    ]
    assert _datasets(report["outputs"]) == [("s3://reports", f"lineage/{ds}.csv")]
    query = report["run"]["facets"]["externalQuery"]
    query_id = _only_query_id(sandbox, ds)
    assert (query["externalQueryId"], query["source"]) == (query_id, "awsathena")
    assert _facet(report["job"]["facets"]["sql"]) == {"query": REPORT_SQL.replace("{{ ds }}", ds)}

    # START events: what is known before the work: the prefix, the target table, the query's tables.
    assert _datasets(_complete(events, "wait", "START")["inputs"]) == [("s3://lineage-raw", f"sales/{ds}/")]
    load_start = _complete(events, "load", "START")
    assert (load_start["inputs"], _datasets(load_start["outputs"])) == (
        [],
        [(pg, f"{db}.public.lineage_sales")],
    )
    report_start = _complete(events, "report", "START")
    assert sorted(_datasets(report_start["inputs"])) == sorted(_datasets(report["inputs"]))
    assert _datasets(report_start["outputs"]) == [("s3://reports", f"lineage/{ds}.csv")]
    assert "externalQuery" not in report_start["run"]["facets"]


def _only_query_id(sandbox: Any, ds: str) -> str:
    """The id of the one Athena query the report of the run for ``ds`` ran (moto keeps every query)."""
    athena = sandbox.boto3_client("athena")
    executions = [
        athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]
        for q in athena.list_query_executions()["QueryExecutionIds"]
    ]
    (query_id,) = [e["QueryExecutionId"] for e in executions if f"DATE '{ds}'" in e["Query"]]
    return str(query_id)


def test_emit_asset_outlets_record_the_table_and_the_report(airflow_db, sandbox, warehouse):
    """Both lines: the loader's and the report's asset events, through their alias outlets."""
    register_dag_file("lineage_facets.py", unpause=[])  # as the DAG processor would: the aliases exist
    result, ds, pg, db = run_lineage_dag(sandbox, warehouse)
    events = asset_events("lineage_facets", result.run_id)
    table = f"{pg}/{db}/public/lineage_sales"
    assert sorted(events, key=str) == sorted(
        [
            (table, {"rows_loaded": 3}),  # the loader, emit_asset=True
            (table, {"ds": ds}),  # the docs' recipe for a SQL-built table (announce)
            (f"s3://reports/lineage/{ds}.csv", {"query_execution_id": _only_query_id(sandbox, ds)}),
        ],
        key=str,
    )
