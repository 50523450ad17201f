"""Sparkify: song-play logs and song metadata (JSON in S3) → a Redshift star schema, with quality checks.

Each run handles its logical day: ``log_data/<ds>/`` is staged exactly once per file (the loader's
ledger), the day's ``songplays`` are rebuilt in one transaction, the dimensions are upserted on their keys
by one reusable task group, and the star is checked. Backfill-friendly: ``catchup=True``,
``max_active_runs=1``, every key templated by the logical date, and a rerun of any day leaves the
schema exactly as one clean run would. Bucket: the ``sparkify_bucket`` Variable (default
``sparkify-data``); warehouse: ``redshift_default``. Data for a local run:
``examples/sparkify/generate.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_sales_provider.notifications.slack import SlackNotifier
from airflow_sales_provider.operators.data_quality import DataQualityOperator
from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

try:
    from airflow.sdk import DAG, TaskGroup
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.utils.task_group import TaskGroup  # type: ignore[no-redef]

BUCKET = "{{ var.value.get('sparkify_bucket', 'sparkify-data') }}"
CONN = "redshift_default"
# Event time: epoch milliseconds → timestamp, the same on Redshift and PostgreSQL.
EVENT_TIME = "TIMESTAMP 'epoch' + (e.ts / 1000) * INTERVAL '1 second'"
DAY = "%(ds)s::date"

CREATE_TABLES = [
    "CREATE TABLE IF NOT EXISTS staging_events (artist varchar(256), auth varchar(32), "
    "first_name varchar(128), gender varchar(8), item_in_session integer, last_name varchar(128), "
    "length double precision, level varchar(16), location varchar(256), method varchar(8), "
    "page varchar(32), registration bigint, session_id integer, song varchar(256), status integer, "
    "ts bigint, user_agent varchar(512), user_id varchar(32))",
    "CREATE TABLE IF NOT EXISTS staging_songs (song_id varchar(32), title varchar(256), "
    "artist_id varchar(32), artist_name varchar(256), artist_location varchar(256), "
    "artist_latitude double precision, artist_longitude double precision, year integer, "
    "duration double precision)",
    "CREATE TABLE IF NOT EXISTS songplays (songplay_id varchar(32) NOT NULL, start_time timestamp NOT NULL, "
    "start_date date NOT NULL, user_id integer NOT NULL, level varchar(16), song_id varchar(32), "
    "artist_id varchar(32), session_id integer, location varchar(256), user_agent varchar(512))",
    "CREATE TABLE IF NOT EXISTS users (user_id integer NOT NULL, first_name varchar(128), "
    "last_name varchar(128), gender varchar(8), level varchar(16))",
    "CREATE TABLE IF NOT EXISTS songs (song_id varchar(32) NOT NULL, title varchar(256), "
    "artist_id varchar(32), year integer, duration double precision)",
    "CREATE TABLE IF NOT EXISTS artists (artist_id varchar(32) NOT NULL, name varchar(256), "
    "location varchar(256), latitude double precision, longitude double precision)",
    'CREATE TABLE IF NOT EXISTS "time" (start_time timestamp NOT NULL, hour integer, day integer, '
    "week integer, month integer, year integer, weekday integer)",
]

#: The day's song plays; songplay_id is a hash of the event, so a rebuild gives the same ids.
SONGPLAYS = [
    f"DELETE FROM songplays WHERE start_date = {DAY}",
    "INSERT INTO songplays SELECT md5(e.session_id || '-' || e.item_in_session || '-' || e.ts), "
    f"{EVENT_TIME}, {DAY}, e.user_id::integer, e.level, s.song_id, s.artist_id, e.session_id, e.location, "
    "e.user_agent FROM staging_events e LEFT JOIN (SELECT DISTINCT song_id, title, artist_id, artist_name, "
    "duration FROM staging_songs) s ON e.song = s.title AND e.artist = s.artist_name "
    "AND abs(e.length - s.duration) < 0.001 "
    f"WHERE e.page = 'NextSong' AND e.user_id <> '' AND {EVENT_TIME} >= {DAY} "
    f"AND {EVENT_TIME} < {DAY} + 1",
]

#: Dimension → (key, SELECT giving one row per key in the dimension's column order).
DIMENSIONS = {
    "users": (
        "user_id",
        "SELECT user_id, first_name, last_name, gender, level FROM (SELECT e.user_id::integer AS user_id, "
        "e.first_name, e.last_name, e.gender, e.level, row_number() OVER (PARTITION BY e.user_id "
        "ORDER BY e.ts DESC) AS latest FROM staging_events e WHERE e.page = 'NextSong' AND e.user_id <> '' "
        f"AND {EVENT_TIME} >= {DAY} AND {EVENT_TIME} < {DAY} + 1) u WHERE latest = 1",
    ),
    "songs": (
        "song_id",
        "SELECT DISTINCT song_id, title, artist_id, year, duration FROM staging_songs",
    ),
    "artists": (
        "artist_id",
        "SELECT artist_id, name, location, latitude, longitude FROM (SELECT artist_id, artist_name AS name, "
        "artist_location AS location, artist_latitude AS latitude, artist_longitude AS longitude, "
        "row_number() OVER (PARTITION BY artist_id ORDER BY song_id) AS first FROM staging_songs) a "
        "WHERE first = 1",
    ),
    "time": (
        "start_time",
        "SELECT DISTINCT start_time, extract(hour FROM start_time)::integer AS hour, "
        "extract(day FROM start_time)::integer AS day, extract(week FROM start_time)::integer AS week, "
        "extract(month FROM start_time)::integer AS month, extract(year FROM start_time)::integer AS year, "
        f"extract(dow FROM start_time)::integer AS weekday FROM songplays WHERE start_date = {DAY}",
    ),
}


# [START howto_sparkify_load_dimension]
def load_dimension(table: str, key: str, select_sql: str) -> TaskGroup:
    """Upsert ``table`` on ``key`` from ``select_sql`` in one transaction, then check the key.

    Delete-then-insert of the incoming keys: the same on Redshift and PostgreSQL, and a rerun of the
    day replaces the same rows (no duplicates).
    """
    quoted = f'"{table}"'
    with TaskGroup(group_id=f"load_{table}_dimension") as group:
        upsert = SQLExecuteQueryOperator(
            task_id="upsert",
            conn_id=CONN,
            sql=[
                f"CREATE TEMP TABLE incoming_{table} AS {select_sql}",
                f"DELETE FROM {quoted} USING incoming_{table} i WHERE {quoted}.{key} = i.{key}",
                f"INSERT INTO {quoted} SELECT * FROM incoming_{table}",
                f"DROP TABLE incoming_{table}",
            ],
            parameters={"ds": "{{ ds }}"},
            split_statements=False,
        )
        check = DataQualityOperator(
            task_id="check",
            conn_id=CONN,
            table=table,
            checks=[
                {"check": "not_null", "column": key},
                {"check": "unique", "column": key},
            ],
        )
        upsert >> check
    return group


# [END howto_sparkify_load_dimension]

with DAG(
    dag_id="sparkify_pipeline",
    schedule="@daily",
    start_date=datetime(2024, 3, 1),
    catchup=True,  # backfills run day by day
    max_active_runs=1,  # days never overlap: the dimensions' upserts see the previous day's result
    default_args={"owner": "sparkify", "retries": 2, "retry_delay": timedelta(minutes=5)},
    on_failure_callback=SlackNotifier(summary=True),
    tags=["sparkify", "example"],
    doc_md=__doc__,
) as dag:
    create_tables = SQLExecuteQueryOperator(task_id="create_tables", conn_id=CONN, sql=CREATE_TABLES)

    # [START howto_sparkify_stage]
    stage_events = RedshiftLoadOperator(
        task_id="stage_events",
        redshift_conn_id=CONN,
        s3_bucket=BUCKET,
        s3_prefix="log_data/{{ ds }}/",
        table="staging_events",
        format="json",
        json_paths=f"s3://{BUCKET}/meta/events_jsonpaths.json",  # one path per column, in table order
        mode="append",  # every file exactly once: the ledger skips files already loaded
    )
    stage_songs = RedshiftLoadOperator(
        task_id="stage_songs",
        redshift_conn_id=CONN,
        s3_bucket=BUCKET,
        s3_prefix="song_data/",
        table="staging_songs",
        format="json",
        json_paths="auto",  # fields mapped to columns by name
        mode="upsert",
        upsert_keys=["song_id"],
    )
    # [END howto_sparkify_stage]

    load_songplays = SQLExecuteQueryOperator(
        task_id="load_songplays",
        conn_id=CONN,
        sql=SONGPLAYS,  # one transaction: the day's plays replaced, never doubled
        parameters={"ds": "{{ ds }}"},
    )

    dimensions = [load_dimension(table, key, select) for table, (key, select) in DIMENSIONS.items()]

    # [START howto_sparkify_checks]
    check_star = DataQualityOperator(
        task_id="check_star",
        conn_id=CONN,
        table="songplays",
        partition={"column": "start_date", "value": "{{ ds }}"},
        history="sparkify_dq_history",
        checks=[
            {"check": "row_count", "min": 1},
            {"check": "not_null", "columns": ["songplay_id", "start_time", "user_id"]},
            {"check": "unique", "column": "songplay_id"},
            {"check": "relationships", "column": "user_id", "to": "users", "field": "user_id"},
            {"check": "relationships", "column": "start_time", "to": "time", "field": "start_time"},
        ],
    )
    # [END howto_sparkify_checks]

    create_tables >> [stage_events, stage_songs] >> load_songplays >> dimensions >> check_star
