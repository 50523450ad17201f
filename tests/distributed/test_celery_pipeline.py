"""Three days of the daily sales pipeline on CeleryExecutor, with a triggerer, two workers and faults.

Operators and triggers are serialised by the scheduler and rebuilt in worker and triggerer processes;
XCom crosses workers; the deferrable sensor and the Athena reports wait in a real triggerer; a worker
dies inside its COPY and the broker goes away for a few seconds. Expected data comes from
``tests/system/sales_oracle.py`` (the pipeline's rules in plain Python).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.distributed.conftest import ENV, task_log, trigger_log
from tests.system.sales_oracle import expected

pytestmark = [pytest.mark.distributed, pytest.mark.system, pytest.mark.timeout(2400)]

ALL_TASKS = {
    "create_tables", "load_stores", "load_category_map", "wait_for_files", "load_staging", "clean",
    "aggregate", "check_clean", "check_aggregates", "publish_to_lake", "report_csv", "report_jsonl", "notify",
}  # fmt: skip
WORKER_HOSTS = {"w1.sales.test", "w2.sales.test"}


def _query(runs, sql: str, *params):
    with runs.sandbox.connect_warehouse() as connection, connection.cursor() as cursor:
        cursor.execute(sql.replace("{schema}", runs.config["schema"]), params)
        rows = list(cursor.fetchall())
    connection.close()
    return rows


def _task_log(runs, run_id: str, task_id: str) -> str:
    return task_log(runs.logs.parent, run_id, task_id)


def _trigger_log(runs, run_id: str, task_id: str) -> str:
    return trigger_log(runs.logs.parent, run_id, task_id)


def test_every_run_succeeds(celery_pipeline):
    runs = celery_pipeline
    assert runs.states == dict.fromkeys(runs.run_ids.values(), "success"), runs.states
    for run_id, tis in runs.task_instances.items():
        assert {task_id: ti["state"] for task_id, ti in tis.items()} == dict.fromkeys(ALL_TASKS, "success"), (
            run_id
        )


def test_tasks_ran_on_both_workers(celery_pipeline):
    hosts = {ti["hostname"] for tis in celery_pipeline.task_instances.values() for ti in tis.values()}
    assert hosts <= WORKER_HOSTS, hosts  # no task ran in the scheduler or the API server
    tries = [t["hostname"] for key, ts in celery_pipeline.tries.items() for t in ts]
    assert hosts | set(tries) == WORKER_HOSTS


def test_sensors_deferred_and_a_restarted_triggerer_finished_them(celery_pipeline):
    runs = celery_pipeline
    for run_id, ti in runs.deferred_sensors.items():
        assert ti["state"] == "deferred"
        assert ti["trigger"]["classpath"] == "airflow_sales_provider.triggers.s3_arrival.S3ArrivalTrigger"
        log = _trigger_log(runs, run_id, "wait_for_files")
        # started by the first triggerer, started again by the one that replaced it, fired once
        starts = [
            line for line in log.splitlines() if f"{run_id}/wait_for_files" in line and "starting" in line
        ]
        assert len(starts) >= 2, log[-3000:]
        assert log.count("Trigger fired event") == 1
        assert "'status': 'success'" in log
        # one try: the wait survived the triggerer's death without failing the task
        assert [t["try_number"] for t in runs.tries[(run_id, "wait_for_files")]] == [1]
    triggerer_log = (runs.logs / "triggerer.log").read_text(errors="replace")
    assert triggerer_log.count("starting airflow triggerer") == 2


def test_athena_reports_deferred_through_the_triggerer(celery_pipeline):
    runs = celery_pipeline
    for run_id in runs.run_ids.values():
        for task_id in ("report_csv", "report_jsonl"):
            assert "Deferring until Athena query" in _task_log(runs, run_id, task_id), (run_id, task_id)
            log = _trigger_log(runs, run_id, task_id)
            assert "Trigger fired event" in log and "'status': 'success'" in log, (run_id, task_id)


def test_a_worker_killed_inside_copy_is_retried_on_the_other(celery_pipeline):
    runs = celery_pipeline
    assert runs.killed_worker in ("w1", "w2")
    assert runs.killed_copy.upper().startswith("COPY") and "FROM STDIN" in runs.killed_copy.upper()
    assert runs.killed_loads, "the killed worker ran no load_staging"
    survivor = ({"w1", "w2"} - {runs.killed_worker}).pop() + ".sales.test"
    for run_id in runs.killed_loads:
        tries = runs.tries[(run_id, "load_staging")]
        assert len(tries) >= 2, tries
        assert tries[0]["hostname"] == runs.killed_worker + ".sales.test"
        assert tries[0]["state"] != "success"
        assert tries[-1]["state"] == "success" and tries[-1]["hostname"] == survivor, tries


def test_each_day_is_complete_and_duplicate_free(celery_pipeline):
    runs = celery_pipeline
    oracle = expected(runs.files)
    days = sorted(oracle)
    staged = _query(runs, "SELECT sale_date, count(*) FROM {schema}.stg_sales_lines GROUP BY 1 ORDER BY 1")
    assert staged == [(day, oracle[day].staged) for day in days]
    keyed = _query(
        runs,
        "SELECT count(*), count(DISTINCT (order_id, line_no)) FROM {schema}.stg_sales_lines "
        "WHERE order_id IS NOT NULL",
    )
    assert keyed[0][0] == keyed[0][1]  # no order line twice
    ledger = _query(
        runs,
        "SELECT s3_key, count(*) FROM {schema}.sales_load_ledger WHERE target_table = %s "
        "GROUP BY 1 ORDER BY 1",
        f"{runs.config['schema']}.stg_sales_lines",
    )
    assert ledger == sorted((f.key, 1) for f in runs.files)
    kpis = _query(
        runs,
        "SELECT sale_date, revenue, units, orders, avg_basket, refunds FROM {schema}.daily_kpis ORDER BY 1",
    )
    assert kpis == [(day, *oracle[day].kpis()) for day in days]
    stores = _query(
        runs,
        "SELECT sale_date, store_id, orders, units, revenue, refunds FROM {schema}.daily_store_sales "
        "ORDER BY 1, 2",
    )
    assert stores == [(day, *store) for day in days for store in oracle[day].per_store()]


def test_reports_and_slack_summaries(celery_pipeline):
    runs = celery_pipeline
    oracle = expected(runs.files)
    s3 = runs.sandbox.boto3_client("s3")
    for day in sorted(oracle):
        body = s3.get_object(Bucket=runs.config["reports_bucket"], Key=f"daily/{day}.csv")["Body"].read()
        rows = list(csv.reader(io.StringIO(body.decode())))
        assert [tuple(r) for r in rows[1:]] == [
            (str(store), str(orders), str(units), f"{revenue:.2f}", f"{refunds:.2f}")
            for store, orders, units, revenue, refunds in oracle[day].per_store()
        ], day
        lines = s3.get_object(Bucket=runs.config["reports_bucket"], Key=f"daily/{day}.jsonl")["Body"].read()
        assert [json.loads(line) for line in lines.splitlines()] == [
            dict(zip(rows[0], r, strict=True)) for r in rows[1:]
        ]
    texts = sorted(m["text"] for m in runs.slack)
    assert texts == [
        f"Daily sales for {day} ({ENV}) are published: s3://{runs.config['reports_bucket']}/daily/{day}.csv"
        for day in sorted(oracle)
    ]


def test_runs_survived_a_broker_outage(celery_pipeline):
    runs = celery_pipeline
    start, end = runs.redis_outage
    assert end - start >= 5
    survivor = ({"w1", "w2"} - {runs.killed_worker}).pop()
    worker_log = Path(runs.logs / f"{survivor}.log").read_text(errors="replace")
    assert "Connection to broker lost" in worker_log or "Cannot connect to redis" in worker_log
    assert set(runs.states.values()) == {"success"}
