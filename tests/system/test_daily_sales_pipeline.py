"""The daily sales pipeline against the sandbox: three days, a late file, a rerun of day 2, a failing day.

The three days and the rerun run once for the module (``pipeline``); the tests read what they left:
the warehouse, the lake, the reports Athena computed, the data-quality history, Slack, and the asset
events that create a run of ``sales_daily_report`` (the DAG scheduled on the aggregate). Expected
values come from ``sales_oracle`` (the pipeline's rules in plain Python) and, for day 1, from numbers
worked out by hand from the generated files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_sales_provider.sandbox.sales_data import (
    DEFAULT_DAYS,
    SalesLine,
    StoreFile,
    generate,
    sandbox_config,
    seed_sandbox,
    upload,
)
from airflow_sales_provider.sandbox.secrets import secrets_backend_env
from tests.system.assets import (
    asset_events,
    create_asset_triggered_runs,
    dag_runs,
    register_dag_file,
    run_existing_dag_run,
    triggering_events,
)
from tests.system.dagrun import DagRunResult, run_dag
from tests.system.sales_oracle import expected

pytestmark = [pytest.mark.system, pytest.mark.integration]

DAG_ID = "daily_sales_pipeline"
DAG_FILE = "daily_sales_pipeline.py"
REPORT_DAG_ID = "sales_daily_report"  # examples/dags/sales_daily_report.py, scheduled on the aggregate
# The schema is the one the pipeline announces its aggregate in (AGGREGATE_SCHEMA) and the report reads.
CONFIG = {**sandbox_config(env="systest"), "schema": "sales", "glue_database": "sales_systest"}
SCHEMA = CONFIG["schema"]
FAILING_DAY = date(2024, 3, 10)
#: day 1 by hand from the generated files: store 1 = 27.12 + 16.30 + 94.82 (the re-export's corrected
#: line, 2 units) + 11.42 + 8.05 - 9.99 refund = 147.72; store 2 = 252.60; store 3 = 67.62 (its
#: -68.64 line is quarantined); 11 orders with a sale; 467.94 / 11 = 42.54
DAY_1_BY_HAND = (Decimal("467.94"), 24, 11, Decimal("42.54"), Decimal("9.99"))
ALL_TASKS = {
    "create_tables",
    "load_stores",
    "load_category_map",
    "wait_for_files",
    "load_staging",
    "clean",
    "aggregate",
    "check_clean",
    "check_aggregates",
    "publish_to_lake",
    "report_csv",
    "report_jsonl",
    "notify",
}


@dataclass
class PipelineRuns:
    files: list[StoreFile]
    runs: dict[str, DagRunResult] = field(default_factory=dict)
    slack: list[dict[str, Any]] = field(default_factory=list)
    plain_variable_seen: list[str | None] = field(default_factory=list)
    #: the sales_daily_report run the scheduler created after each pipeline run, by label
    report_runs: dict[str, list[str]] = field(default_factory=dict)


def _logical(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pipeline(airflow_db, sales_sandbox) -> Any:
    """Three days, the late file for day 2, day 3, then the rerun of day 2 — once for the module.

    The Variable is served only by the amazon provider's SecretsManagerBackend on the moto server: the
    plain ``AIRFLOW_VAR_SALES_PIPELINE`` environment variable is removed for the runs.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AIRFLOW_VAR_SALES_PIPELINE", raising=False)
        for key, value in secrets_backend_env(sales_sandbox).items():
            patch.setenv(key, value)
        sales_sandbox.reset_aws()
        sales_sandbox.slack_receiver.clear()
        files = generate()
        seed_sandbox(sales_sandbox, CONFIG, files)
        state = PipelineRuns(files)
        # As the DAG processor would have: both DAGs and the asset are known, the report DAG unpaused.
        register_dag_file(DAG_FILE, unpause=[])
        register_dag_file(f"{REPORT_DAG_ID}.py", unpause=[REPORT_DAG_ID])
        create_asset_triggered_runs()  # whatever an earlier session left queued is not ours

        def run(label: str, day: date, **kwargs: Any) -> None:
            state.plain_variable_seen.append(os.environ.get("AIRFLOW_VAR_SALES_PIPELINE"))
            before = {r.run_id for r in dag_runs(REPORT_DAG_ID)}
            state.runs[label] = run_dag(DAG_ID, DAG_FILE, _logical(day), **kwargs)
            # dag.test() records the run's asset event but creates no downstream run (on either line);
            # the scheduler's next loop does, as it would between two nightly runs.
            create_asset_triggered_runs()
            state.report_runs[label] = [r.run_id for r in dag_runs(REPORT_DAG_ID) if r.run_id not in before]

        day1, day2, day3 = DEFAULT_DAYS
        run("day 1", day1)
        run("day 2", day2)
        upload(sales_sandbox, CONFIG, [f for f in files if f.late])
        run("day 3", day3)
        run("day 2 rerun", day2, run_conf={"min_files": 1})
        state.slack = list(sales_sandbox.slack_receiver.messages)
        yield state


@pytest.fixture(scope="module")
def failing_day(pipeline, sales_sandbox) -> Any:
    """The smallest day whose fail check fails: one file, two of three lines negative (67% quarantined)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in secrets_backend_env(sales_sandbox).items():
            patch.setenv(key, value)
        good = pipeline.files[0].lines[0]
        lines = [
            SalesLine(
                900_001 + n,
                1,
                1,
                FAILING_DAY,
                good.sold_at.replace(day=10),
                None,
                "food",
                1,
                amount,
                "sale",
                good.updated_at.replace(day=10),
            )
            for n, amount in enumerate((Decimal("5.00"), Decimal("-1.00"), Decimal("-2.00")))
        ]
        upload(sales_sandbox, CONFIG, [StoreFile(f"daily/{FAILING_DAY}/store_1.csv", lines)])
        before = len(sales_sandbox.slack_receiver.messages)
        result = run_dag(DAG_ID, DAG_FILE, _logical(FAILING_DAY), run_conf={"min_files": 1})
        yield result, sales_sandbox.slack_receiver.messages[before:]


def _query(sandbox: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
        cursor.execute(sql.replace("{schema}", SCHEMA), params)
        return list(cursor.fetchall())


def test_every_run_succeeds(pipeline):
    for label, result in pipeline.runs.items():
        assert result.state == "success", (label, result.task_states)
        assert result.task_states == dict.fromkeys(ALL_TASKS, "success"), label


def test_kpis_per_day_are_exact(pipeline, sales_sandbox):
    oracle = expected(pipeline.files)
    assert oracle[DEFAULT_DAYS[0]].kpis() == DAY_1_BY_HAND, "the oracle disagrees with the hand count"
    rows = _query(
        sales_sandbox,
        "SELECT sale_date, revenue, units, orders, avg_basket, refunds FROM {schema}.daily_kpis ORDER BY 1",
    )
    assert rows == [(day, *oracle[day].kpis()) for day in DEFAULT_DAYS]


def test_per_store_aggregates_and_clean_lines_are_exact_after_the_rerun(pipeline, sales_sandbox):
    oracle = expected(pipeline.files)
    stores = _query(
        sales_sandbox,
        "SELECT sale_date, store_id, orders, units, revenue, refunds FROM {schema}.daily_store_sales "
        "ORDER BY 1, 2",
    )
    assert stores == [(day, *store) for day in DEFAULT_DAYS for store in oracle[day].per_store()]
    clean = _query(
        sales_sandbox, "SELECT sale_date, count(*) FROM {schema}.sales_clean GROUP BY 1 ORDER BY 1"
    )
    assert clean == [(day, len(oracle[day].clean)) for day in DEFAULT_DAYS]
    # nothing doubled: one staged row per order line, every file in the ledger once
    staged = _query(
        sales_sandbox, "SELECT sale_date, count(*) FROM {schema}.stg_sales_lines GROUP BY 1 ORDER BY 1"
    )
    assert staged == [(day, oracle[day].staged) for day in DEFAULT_DAYS]
    ledger = _query(
        sales_sandbox,
        "SELECT s3_key, count(*) FROM {schema}.sales_load_ledger WHERE target_table = %s "
        "GROUP BY 1 ORDER BY 1",
        f"{SCHEMA}.stg_sales_lines",
    )
    assert ledger == sorted((f.key, 1) for f in pipeline.files)


def test_the_late_file_corrects_day_2_without_doubling(pipeline, sales_sandbox):
    late = next(f for f in pipeline.files if f.late)
    corrected = late.lines[0]  # a newer version of a line store 3 had already sent
    rows = _query(
        sales_sandbox,
        "SELECT amount FROM {schema}.sales_clean WHERE order_id = %s AND line_no = %s",
        corrected.order_id,
        corrected.line_no,
    )
    assert rows == [(corrected.amount,)]


def test_quarantine_holds_each_bad_line_with_its_reason(pipeline, sales_sandbox):
    oracle = expected(pipeline.files)
    rows = _query(
        sales_sandbox,
        "SELECT sale_date, order_id, line_no, reason FROM {schema}.sales_quarantine "
        "WHERE sale_date <= %s ORDER BY 1, 2",
        DEFAULT_DAYS[-1],
    )
    assert rows == [(day, *q) for day in DEFAULT_DAYS for q in sorted(oracle[day].quarantined, key=str)]
    assert {reason for *_, reason in rows} == {"negative amount", "unknown store", "missing order id"}


def test_data_quality_history_records_every_check_of_every_run(pipeline, sales_sandbox):
    rows = _query(
        sales_sandbox,
        "SELECT partition_value, task_id, count(*), count(DISTINCT run_id), "
        "sum(CASE WHEN passed THEN 0 ELSE 1 END) FROM {schema}.data_quality_history "
        "WHERE partition_value <= %s GROUP BY 1, 2 ORDER BY 1, 2",
        str(DEFAULT_DAYS[-1]),
    )
    day1, day2, day3 = (str(d) for d in DEFAULT_DAYS)
    # Airflow 3's dag.test() gives the rerun a run id of its own (its history rows are added);
    # Airflow 2's reuses the day's run id (its rows are replaced, never doubled).
    day2_runs = len({pipeline.runs["day 2"].run_id, pipeline.runs["day 2 rerun"].run_id})
    # check_clean: 10 results (not_null gives one per column), check_aggregates: 7
    assert rows == [
        (day1, "check_aggregates", 7, 1, 0),
        (day1, "check_clean", 10, 1, 0),
        (day2, "check_aggregates", 7 * day2_runs, day2_runs, 0),
        (day2, "check_clean", 10 * day2_runs, day2_runs, 0),
        (day3, "check_aggregates", 7, 1, 0),
        (day3, "check_clean", 10, 1, 0),
    ]
    # the change check of day 3 compared day 3's revenue with the days before it
    change = _query(
        sales_sandbox,
        "SELECT passed, value FROM {schema}.data_quality_history "
        "WHERE check_name = 'daily_revenue_change' AND partition_value = %s",
        day3,
    )
    assert change == [(True, float(expected(pipeline.files)[DEFAULT_DAYS[2]].kpis()[0]))]


def test_reports_hold_the_numbers_athena_computed_from_the_lake(pipeline, sales_sandbox):
    oracle = expected(pipeline.files)
    s3 = sales_sandbox.boto3_client("s3")
    for day in DEFAULT_DAYS:
        body = s3.get_object(Bucket=CONFIG["reports_bucket"], Key=f"daily/{day}.csv")["Body"].read().decode()
        rows = list(csv.reader(io.StringIO(body)))
        assert rows[0] == ["store_id", "orders", "units", "revenue", "refunds"]
        assert [tuple(r) for r in rows[1:]] == [
            (str(store), str(orders), str(units), f"{revenue:.2f}", f"{refunds:.2f}")
            for store, orders, units, revenue, refunds in oracle[day].per_store()
        ], day
        lines = s3.get_object(Bucket=CONFIG["reports_bucket"], Key=f"daily/{day}.jsonl")["Body"].read()
        assert [json.loads(line) for line in lines.splitlines()] == [
            dict(zip(rows[0], r, strict=True)) for r in rows[1:]
        ]
    # the day-2 lake partition was overwritten by the rerun, never appended to
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=CONFIG["lake_bucket"], Prefix="curated/")["Contents"]]
    assert sorted(keys) == [f"curated/sales_clean/sale_date={d}/part-00000.csv" for d in DEFAULT_DAYS]


def test_one_slack_summary_per_run(pipeline):
    assert len(pipeline.slack) == 4
    for message, day in zip(
        pipeline.slack, ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-02"], strict=True
    ):
        assert message["blocks"][0]["text"]["text"] == ":white_check_mark: Succeeded: daily_sales_pipeline"
        assert (
            message["text"]
            == f"Daily sales for {day} (systest) are published: s3://sales-reports/daily/{day}.csv"
        )


def test_config_comes_from_the_secrets_backend(pipeline, sales_sandbox, monkeypatch):
    # No plain variable was there during the runs, yet every run rendered the secret's values
    # ("systest" is only in the secret).
    assert pipeline.plain_variable_seen == [None] * 4
    assert all("(systest)" in m["text"] for m in pipeline.slack)
    secret = sales_sandbox.boto3_client("secretsmanager").get_secret_value(
        SecretId="airflow/variables/sales_pipeline"
    )
    assert json.loads(secret["SecretString"])["env"] == "systest"
    # Without the backend, Airflow cannot resolve the Variable at all.
    from airflow.models import Variable

    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND", raising=False)
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND_KWARGS", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SALES_PIPELINE", raising=False)
    with pytest.raises(KeyError):
        Variable.get("sales_pipeline")


def _aggregate_uri(sandbox: Any) -> str:
    """The asset URI of the aggregate, as the postgres provider (and our lineage module) names a table."""
    postgres = sandbox.postgres
    return f"postgres://{postgres.host}:{postgres.port}/{postgres.database}/{SCHEMA}/daily_store_sales"


def test_each_run_announces_the_aggregate_and_creates_a_report_run(pipeline, failing_day, sales_sandbox):
    # failing_day first: its run (no event, no report run) happens before the report runs below.
    uri = _aggregate_uri(sales_sandbox)
    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-02"]
    for (label, result), day in zip(pipeline.runs.items(), days, strict=True):
        assert (uri, {"sale_date": day}) in asset_events(DAG_ID, result.run_id), label
        (created,) = pipeline.report_runs[label]
        assert triggering_events(REPORT_DAG_ID, created) == [(uri, DAG_ID, result.run_id)], label
    run_types = {str(getattr(r.run_type, "value", r.run_type)) for r in dag_runs(REPORT_DAG_ID)}
    assert run_types <= {"asset_triggered", "dataset_triggered"}

    # The report runs the scheduler created read the aggregate and publish the revenue of every day.
    sales_sandbox.boto3_client("s3").create_bucket(Bucket="reports")
    for label, (run_id,) in pipeline.report_runs.items():
        report = run_existing_dag_run(REPORT_DAG_ID, f"{REPORT_DAG_ID}.py", run_id)
        assert report.state == "success", (label, report.task_states)
    body = sales_sandbox.boto3_client("s3").get_object(Bucket="reports", Key="finance/daily_revenue.csv")
    oracle = expected(pipeline.files)
    # the failing day's aggregate was written before its check failed: one clean line of 5.00
    revenue = {**{day: oracle[day].kpis()[0] for day in DEFAULT_DAYS}, FAILING_DAY: Decimal("5.00")}
    assert body["Body"].read().decode() == "sale_date,revenue\n" + "".join(
        f"{day},{revenue[day]:.2f}\n" for day in sorted(revenue)
    )


def test_a_failing_check_turns_the_run_red_and_publishes_nothing(failing_day, sales_sandbox):
    result, messages = failing_day
    assert result.state == "failed"
    assert result.task_states["check_clean"] == "failed"
    for task_id in ("publish_to_lake", "report_csv", "report_jsonl", "notify"):
        assert result.task_states[task_id] == "upstream_failed", task_id
    s3 = sales_sandbox.boto3_client("s3")
    reports = s3.list_objects_v2(Bucket=CONFIG["reports_bucket"], Prefix=f"daily/{FAILING_DAY}")
    assert reports.get("KeyCount", 0) == 0
    lake = s3.list_objects_v2(
        Bucket=CONFIG["lake_bucket"], Prefix=f"curated/sales_clean/sale_date={FAILING_DAY}"
    )
    assert lake.get("KeyCount", 0) == 0
    # the day was aggregated but not checked: it is not announced, nothing is scheduled on it
    uri = _aggregate_uri(sales_sandbox)
    assert [e for e in asset_events(DAG_ID, result.run_id) if e[0] == uri] == []
    before = {r.run_id for r in dag_runs(REPORT_DAG_ID)}
    create_asset_triggered_runs()
    assert {r.run_id for r in dag_runs(REPORT_DAG_ID)} == before
    assert len(messages) == 1, [m.get("text") for m in messages]
    text = messages[0]["text"]
    assert text.startswith(":x: Failed: daily_sales_pipeline"), text
    assert "check_clean" in text
    blocks = json.dumps(messages[0]["blocks"])
    assert "quarantined_share_pct" in blocks
