"""``sparkify_pipeline``: a three-day backfill, then a rerun of the three days (dag.test() per day).

The expected counts come from the generator's own rows, computed here in Python, not from the warehouse.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS
from tests.system.dagrun import run_dag

pytestmark = [pytest.mark.system, pytest.mark.integration, pytest.mark.example_pipeline]

BUCKET = "sparkify-data"
DAYS = [datetime(2024, 3, 1, tzinfo=timezone.utc) + timedelta(days=n) for n in range(3)]
TABLES = (
    "staging_events, staging_songs, songplays, users, songs, artists, time, sales_load_ledger, "
    "sparkify_dq_history"
)
STAR = {
    "songplays": "SELECT songplay_id, start_time, start_date, user_id, level, song_id, artist_id, session_id "
    "FROM songplays ORDER BY songplay_id",
    "users": "SELECT * FROM users ORDER BY user_id",
    "songs": "SELECT * FROM songs ORDER BY song_id",
    "artists": "SELECT * FROM artists ORDER BY artist_id",
    "time": 'SELECT * FROM "time" ORDER BY start_time',
}


def generator():
    path = Path(__file__).resolve().parents[2] / "examples" / "sparkify" / "generate.py"
    spec = importlib.util.spec_from_file_location("sparkify_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_counts(gen) -> dict[str, int]:
    songs = gen.songs()
    titles = {(s["title"], s["artist_name"]) for s in songs}
    plays, users, times, known = 0, set(), set(), 0
    for day in DAYS:
        for event in gen.events(day.strftime("%Y-%m-%d"), songs):
            if event["page"] == "NextSong" and event["userId"]:
                plays += 1
                users.add(event["userId"])
                times.add(event["ts"])
                known += (event["song"], event["artist"]) in titles
    assert 0 < known < plays  # the data has plays of known and of unknown songs
    return {
        "songplays": plays,
        "users": len(users),
        "songs": len(songs),
        "artists": len({s["artist_id"] for s in songs}),
        "time": len(times),
    }


def no_retries(dag) -> None:
    """A failing task fails the run at once instead of after the DAG's 5-minute retry delays."""
    for task in dag.tasks:
        task.retries = 0


def snapshot(warehouse) -> dict[str, list[tuple]]:
    with warehouse.cursor() as cur:
        star = {}
        for table, query in STAR.items():
            cur.execute(query)
            star[table] = cur.fetchall()
        return star


@pytest.fixture
def sparkify(sandbox, warehouse):
    gen = generator()
    s3 = sandbox.boto3_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    gen.upload(s3, BUCKET, [d.strftime("%Y-%m-%d") for d in DAYS])
    with warehouse.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLES}")
    yield gen
    with warehouse.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLES}")


def test_backfill_then_rerun_gives_the_same_star_schema(airflow_db, sandbox, sparkify, warehouse):
    snapshots, run_ids = [], []
    for _pass in range(2):
        for day in DAYS:
            result = run_dag("sparkify_pipeline", "sparkify_pipeline.py", day, prepare=no_retries)
            assert result.state == "success", result.task_states
            run_ids.append(result.run_id)
        snapshots.append(snapshot(warehouse))

    first, second = snapshots
    assert first == second
    assert {table: len(rows) for table, rows in first.items()} == expected_counts(sparkify)
    plays_per_day = {}
    for row in first["songplays"]:
        plays_per_day[str(row[2])] = plays_per_day.get(str(row[2]), 0) + 1
    assert sorted(plays_per_day) == ["2024-03-01", "2024-03-02", "2024-03-03"]

    with warehouse.cursor() as cur:
        cur.execute("SELECT count(*) FROM staging_events")
        assert cur.fetchone() == (3 * 40,)  # each day's file staged once, not once per run
        # One history entry per DAG run: six runs on Airflow 3. Airflow 2.10's dag.test() reruns a date
        # in the same DAG run (run id manual__<date>), and a rerun of a DAG run replaces its entry, as
        # clearing the run would: three there.
        cur.execute("SELECT run_id, count(*), bool_and(passed) FROM sparkify_dq_history GROUP BY run_id")
        history = {run_id: (rows, passed) for run_id, rows, passed in cur.fetchall()}
        assert history == {run_id: (7, True) for run_id in run_ids}  # seven results each, all passed
        assert len(history) == (6 if AIRFLOW_V_3_0_PLUS else 3)
        cur.execute("SELECT count(DISTINCT partition_value) FROM sparkify_dq_history")
        assert cur.fetchone() == (3,)


def test_a_broken_reference_fails_the_checks(airflow_db, sandbox, sparkify, warehouse):
    """The star's checks can fail: a song play by a user the users dimension does not know."""
    first = run_dag("sparkify_pipeline", "sparkify_pipeline.py", DAYS[0], prepare=no_retries)
    assert first.state == "success", first.task_states
    with warehouse.cursor() as cur:
        cur.execute("DELETE FROM users WHERE user_id = (SELECT min(user_id) FROM songplays)")

    def keep_the_user_deleted(dag) -> None:
        dag.get_task("load_users_dimension.upsert").sql = ["SELECT 1"]  # it would add the user back
        no_retries(dag)

    result = run_dag("sparkify_pipeline", "sparkify_pipeline.py", DAYS[0], prepare=keep_the_user_deleted)
    assert result.state == "failed"
    assert result.task_states["check_star"] == "failed", json.dumps(result.task_states)
