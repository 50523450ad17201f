"""RedshiftLoadOperator against the sandbox: moto S3 as the source, the embedded PostgreSQL as warehouse."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_sales_provider.operators.redshift_load import LoadError, RedshiftLoadOperator
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import LoadConfigError

pytestmark = pytest.mark.integration

BUCKET = "sales-raw"
HEADER = "sale_id,store_id,sale_date,amount,updated_at\n"


def context(run_id: str = "manual__1", try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="sales_load", run_id=run_id, try_number=try_number, task_id="load")
    return {"ti": ti, "run_id": run_id}


def csv_body(rows: list[tuple[Any, ...]], header: str = HEADER) -> bytes:
    return (header + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


@pytest.fixture
def s3(sandbox):
    client = sandbox.boto3_client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sales_table(warehouse):
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")
        cur.execute("DROP TABLE IF EXISTS public.sales")
        cur.execute(
            "CREATE TABLE public.sales (sale_id integer NOT NULL, store_id integer NOT NULL, "
            "sale_date date NOT NULL, amount numeric(12,2), updated_at timestamp, "
            "inserted_at timestamp DEFAULT now())"
        )
    yield "sales"
    with warehouse.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS public.sales")
        cur.execute("DROP TABLE IF EXISTS public.sales_load_ledger")


def rows(
    warehouse, sql: str = "SELECT sale_id, store_id, sale_date::text, amount::text FROM sales ORDER BY 1, 2"
):
    with warehouse.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def ledger(warehouse):
    return rows(warehouse, "SELECT s3_key, row_count, run_id FROM sales_load_ledger ORDER BY s3_key")


def _load_in_child(queue: Any, run_id: str) -> None:
    try:
        queue.put(loader(s3_prefix="o/").execute(context(run_id)))
    except BaseException as exc:  # report, so the parent fails with the reason
        queue.put({"error": repr(exc), "files_loaded_count": -1})


def loader(**kwargs: Any) -> RedshiftLoadOperator:
    defaults: dict[str, Any] = {
        "task_id": "load",
        "table": "sales",
        "schema": "public",
        "s3_bucket": BUCKET,
        "redshift_conn_id": "warehouse_default",
    }
    return RedshiftLoadOperator(**{**defaults, **kwargs})


class TestAppend:
    def test_loads_then_skips_loaded_files(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="d/a.csv", Body=csv_body([(1, 1, "2024-03-01", "10.50", "")]))
        s3.put_object(Bucket=BUCKET, Key="d/b.csv", Body=csv_body([(2, 1, "2024-03-01", "5", "")]))
        result = loader(s3_prefix="d/").execute(context())
        assert result["rows_loaded"] == 2
        assert result["files_loaded"] == ["d/a.csv", "d/b.csv"]
        assert result["files_skipped"] == 0
        again = loader(s3_prefix="d/").execute(context("manual__2"))
        assert again["rows_loaded"] == 0 and again["files_skipped"] == 2
        assert rows(warehouse) == [(1, 1, "2024-03-01", "10.50"), (2, 1, "2024-03-01", "5.00")]
        assert ledger(warehouse) == [("d/a.csv", 1, "manual__1"), ("d/b.csv", 1, "manual__1")]

    def test_s3_keys_from_the_sensor_xcom_in_every_shape(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="d/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        s3.put_object(Bucket=BUCKET, Key="d/b.csv", Body=csv_body([(2, 1, "2024-03-01", "2", "")]))
        s3.put_object(Bucket=BUCKET, Key="d/c.csv", Body=csv_body([(3, 1, "2024-03-01", "3", "")]))

        def listed(key: str) -> dict[str, Any]:
            head = s3.head_object(Bucket=BUCKET, Key=key)
            return {"key": key, "size": head["ContentLength"], "etag": head["ETag"]}

        xcom = {"bucket": BUCKET, "prefix": "d/", "keys": [listed("d/a.csv")]}
        # the sensor's dict (native rendering), then its string form (rendering without native objects)
        assert loader(s3_bucket=None, s3_keys=xcom).execute(context())["files_loaded"] == ["d/a.csv"]
        stringly = str({"bucket": BUCKET, "prefix": "d/", "keys": [listed("d/b.csv")]})
        assert loader(s3_bucket=None, s3_keys=stringly).execute(context())["files_loaded"] == ["d/b.csv"]
        # above the sensor's key limit: a manifest object in S3
        s3.put_object(
            Bucket=BUCKET,
            Key="_manifests/run.json",
            Body=json.dumps({"bucket": BUCKET, "keys": [listed("d/c.csv")]}).encode(),
        )
        big = {
            "bucket": BUCKET,
            "prefix": "d/",
            "manifest_uri": f"s3://{BUCKET}/_manifests/run.json",
            "key_count": 1,
        }
        assert loader(s3_bucket=None, s3_keys=big).execute(context())["files_loaded"] == ["d/c.csv"]
        assert [r[0] for r in rows(warehouse)] == [1, 2, 3]

    def test_an_object_overwritten_after_listing_is_refused(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="d/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        stale = {
            "bucket": BUCKET,
            "prefix": "d/",
            "keys": [{"key": "d/a.csv", "size": 70, "etag": '"0123abc"'}],
        }
        with pytest.raises(LoadError, match="changed since it was listed"):
            loader(s3_keys=stale).execute(context())
        assert rows(warehouse) == [] and ledger(warehouse) == []

    def test_columns_are_mapped_by_header_name_in_every_file(self, s3, sales_table, warehouse):
        s3.put_object(
            Bucket=BUCKET, Key="h/a.csv", Body=b"sale_id,store_id,sale_date,amount\n1,10,2024-03-01,5\n"
        )
        s3.put_object(
            Bucket=BUCKET, Key="h/b.csv", Body=b"amount,sale_date,store_id,sale_id\n6,2024-03-02,20,2\n"
        )
        loader(s3_prefix="h/", allow_missing_columns=True).execute(context())
        assert rows(warehouse) == [(1, 10, "2024-03-01", "5.00"), (2, 20, "2024-03-02", "6.00")]

    def test_gzip_is_decompressed_on_the_fly(self, s3, sales_table, warehouse):
        body = gzip.compress(csv_body([(i, 2, "2024-03-02", i, "") for i in range(1, 501)]))
        s3.put_object(Bucket=BUCKET, Key="d/big.csv.gz", Body=body)
        result = loader(s3_keys=["d/big.csv.gz"]).execute(context())
        assert result["rows_loaded"] == 500
        assert rows(warehouse, "SELECT count(*), sum(amount)::int FROM sales") == [(500, 125250)]


class TestReplacePartition:
    @pytest.mark.parametrize(
        "force_reload", [pytest.param(False, id="ledger-skips"), pytest.param(True, id="force")]
    )
    def test_three_reruns_leave_identical_contents(self, s3, sales_table, warehouse, force_reload):
        with warehouse.cursor() as cur:  # another day that must survive
            cur.execute("INSERT INTO sales VALUES (99, 9, '2024-02-29', 1, NULL)")
        s3.put_object(Bucket=BUCKET, Key="p/2024-03-01/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        s3.put_object(Bucket=BUCKET, Key="p/2024-03-01/b.csv", Body=csv_body([(2, 1, "2024-03-01", "2", "")]))
        snapshots = []
        for attempt in range(3):
            loader(
                s3_prefix="p/2024-03-01/",
                mode="replace_partition",
                partition_column="sale_date",
                partition_value="2024-03-01",
                force_reload=force_reload,
            ).execute(context(f"run_{attempt}"))
            snapshots.append(rows(warehouse))
        assert snapshots[0] == snapshots[1] == snapshots[2]
        assert snapshots[0] == [
            (1, 1, "2024-03-01", "1.00"),
            (2, 1, "2024-03-01", "2.00"),
            (99, 9, "2024-02-29", "1.00"),
        ]
        assert [r[:2] for r in ledger(warehouse)] == [("p/2024-03-01/a.csv", 1), ("p/2024-03-01/b.csv", 1)]

    def test_a_late_file_reloads_the_whole_partition(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="p/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        kwargs = dict(
            s3_prefix="p/",
            mode="replace_partition",
            partition_column="sale_date",
            partition_value="2024-03-01",
        )
        loader(**kwargs).execute(context("run_1"))
        s3.put_object(Bucket=BUCKET, Key="p/b.csv", Body=csv_body([(2, 1, "2024-03-01", "2", "")]))
        result = loader(**kwargs).execute(context("run_2"))
        assert result["files_loaded"] == ["p/a.csv", "p/b.csv"]
        assert [r[0] for r in rows(warehouse)] == [1, 2]

    def test_partition_column_missing_from_the_files_is_filled_with_the_bound_value(
        self, s3, sales_table, warehouse
    ):
        s3.put_object(Bucket=BUCKET, Key="p/a.csv", Body=b"sale_id,store_id,amount\n1,1,3\n2,2,4\n")
        loader(
            s3_prefix="p/",
            columns=["sale_id", "store_id", "amount"],
            mode="replace_partition",
            partition_column="sale_date",
            partition_value="2024-03-05",
        ).execute(context())
        assert rows(warehouse) == [(1, 1, "2024-03-05", "3.00"), (2, 2, "2024-03-05", "4.00")]

    def test_rows_outside_the_partition_fail_and_change_nothing(self, s3, sales_table, warehouse):
        s3.put_object(
            Bucket=BUCKET,
            Key="p/a.csv",
            Body=csv_body([(1, 1, "2024-03-01", "1", ""), (2, 1, "2024-03-02", "1", "")]),
        )
        with pytest.raises(
            LoadError, match=r"1 row\(s\) of the batch have sale_date other than '2024-03-01'"
        ):
            loader(
                s3_prefix="p/",
                mode="replace_partition",
                partition_column="sale_date",
                partition_value="2024-03-01",
            ).execute(context())
        assert rows(warehouse) == [] and ledger(warehouse) == []


class TestUpsert:
    def test_duplicate_keys_in_one_batch_keep_the_latest_by_order_by(self, s3, sales_table, warehouse):
        with warehouse.cursor() as cur:
            cur.execute(
                "INSERT INTO sales VALUES (1, 1, '2024-03-01', 1, '2024-03-01 00:00'), "
                "(5, 1, '2024-03-01', 5, NULL)"
            )
        s3.put_object(
            Bucket=BUCKET,
            Key="u/a.csv",
            Body=csv_body(
                [
                    (1, 1, "2024-03-01", "30", "2024-03-03 00:00"),
                    (1, 1, "2024-03-01", "20", "2024-03-02 00:00"),
                ]
            ),
        )
        s3.put_object(
            Bucket=BUCKET, Key="u/b.csv", Body=csv_body([(2, 1, "2024-03-01", "7", "2024-03-01 00:00")])
        )
        result = loader(
            s3_prefix="u/", mode="upsert", upsert_keys=["sale_id", "store_id"], order_by=["updated_at"]
        ).execute(context())
        assert result["rows_loaded"] == 2
        assert rows(warehouse) == [
            (1, 1, "2024-03-01", "30.00"),
            (2, 1, "2024-03-01", "7.00"),
            (5, 1, "2024-03-01", "5.00"),
        ]

    def test_without_order_by_the_last_row_loaded_wins(self, s3, sales_table, warehouse):
        s3.put_object(
            Bucket=BUCKET,
            Key="u/1.csv",
            Body=csv_body([(1, 1, "2024-03-01", "1", ""), (1, 1, "2024-03-01", "2", "")]),
        )
        s3.put_object(Bucket=BUCKET, Key="u/2.csv", Body=csv_body([(1, 1, "2024-03-01", "3", "")]))
        loader(s3_prefix="u/", mode="upsert", upsert_keys=["sale_id"]).execute(context())
        assert rows(warehouse) == [(1, 1, "2024-03-01", "3.00")]


class TestTruncateInsert:
    def test_replaces_everything_and_is_idempotent(self, s3, sales_table, warehouse):
        with warehouse.cursor() as cur:
            cur.execute("INSERT INTO sales VALUES (7, 7, '2020-01-01', 7, NULL)")
        s3.put_object(Bucket=BUCKET, Key="dim/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        for run in ("r1", "r2"):
            loader(s3_keys=["dim/a.csv"], mode="truncate_insert").execute(context(run))
            assert rows(warehouse) == [(1, 1, "2024-03-01", "1.00")]


class TestLedger:
    def test_overlapping_runs_load_each_file_once(self, s3, sales_table, warehouse):
        for i in range(4):
            s3.put_object(Bucket=BUCKET, Key=f"o/{i}.csv", Body=csv_body([(i, 1, "2024-03-01", i, "")]))
        # Separate processes, as overlapping task runs are; each blocks on the target's lock in turn.
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_load_in_child, args=(queue, f"run_{n}")) for n in range(3)]
        for proc in procs:
            proc.start()
        results = [queue.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(30)
        assert sorted(r["files_loaded_count"] for r in results) == [0, 0, 4], results
        assert rows(warehouse, "SELECT count(*), count(DISTINCT sale_id) FROM sales") == [(4, 4)]
        assert len(ledger(warehouse)) == 4

    def test_a_reuploaded_file_with_new_content_is_a_new_object(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="o/a.csv", Body=csv_body([(1, 1, "2024-03-01", 1, "")]))
        loader(s3_prefix="o/").execute(context("r1"))
        s3.put_object(Bucket=BUCKET, Key="o/a.csv", Body=csv_body([(2, 1, "2024-03-01", 1, "")]))
        assert loader(s3_prefix="o/").execute(context("r2"))["files_loaded"] == ["o/a.csv"]
        assert [r[0] for r in rows(warehouse)] == [1, 2]

    def test_ledger_table_name_is_configurable(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="o/a.csv", Body=csv_body([(1, 1, "2024-03-01", 1, "")]))
        loader(s3_prefix="o/", ledger_table="public.my_ledger").execute(context())
        assert rows(warehouse, "SELECT s3_key, target_table FROM public.my_ledger") == [
            ("o/a.csv", "public.sales")
        ]
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE public.my_ledger")


class TestMissingColumns:
    """A table column the file leaves out is drift by default: it would otherwise load as NULL unnoticed."""

    FEED = b"sale_id,store_id,sale_date,amount\n1,1,2024-03-01,5\n"

    def test_a_nullable_column_missing_from_the_file_is_drift_before_any_data_moves(
        self, s3, sales_table, warehouse
    ):
        s3.put_object(Bucket=BUCKET, Key="m/a.csv", Body=self.FEED)
        with pytest.raises(LoadError) as info:
            loader(s3_prefix="m/").execute(context())
        message = str(info.value)
        # inserted_at is not missing: a column with a default is filled by it, not by NULL
        assert "s3://sales-raw/m/a.csv" in message and "missing columns ['updated_at']." in message
        assert "allow_missing_columns" in message
        assert rows(warehouse) == [] and ledger(warehouse) == []

    @pytest.mark.parametrize(
        "opt_in",
        [
            pytest.param({"allow_missing_columns": True}, id="allow_missing_columns"),
            pytest.param({"columns": ["sale_id", "store_id", "sale_date", "amount"]}, id="columns"),
        ],
    )
    def test_an_explicit_opt_in_loads_the_missing_column_as_null(self, s3, sales_table, warehouse, opt_in):
        s3.put_object(Bucket=BUCKET, Key="m/a.csv", Body=self.FEED)
        assert loader(s3_prefix="m/", **opt_in).execute(context())["rows_loaded"] == 1
        assert rows(warehouse, "SELECT sale_id, updated_at IS NULL, inserted_at IS NOT NULL FROM sales") == [
            (1, True, True)
        ]

    def test_a_required_column_is_never_optional(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="m/a.csv", Body=b"sale_id,sale_date\n1,2024-03-01\n")
        with pytest.raises(LoadError, match=r"missing columns \['store_id'\]"):
            loader(s3_prefix="m/", allow_missing_columns=True).execute(context())


class TestListParameters:
    def test_a_single_name_is_a_one_element_list(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="u/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "2024-03-01")]))
        s3.put_object(Bucket=BUCKET, Key="u/b.csv", Body=csv_body([(1, 2, "2024-03-01", "2", "2024-03-02")]))
        result = loader(s3_prefix="u/", mode="upsert", upsert_keys="sale_id", order_by="updated_at").execute(
            context()
        )
        assert result["rows_loaded"] == 1
        assert rows(warehouse) == [(1, 2, "2024-03-01", "2.00")]


class TestErrorPolicy:
    @pytest.mark.parametrize(
        ("kwargs", "kind"),
        [
            pytest.param({"mode": "merge"}, LoadConfigError, id="option"),
            pytest.param({"table": "sales; DROP TABLE x"}, InvalidIdentifierError, id="identifier"),
            pytest.param({"s3_keys": "{'bucket': 'raw'}", "s3_prefix": None}, LoadConfigError, id="s3_keys"),
            pytest.param({"redshift_conn_id": "aws_default"}, LoadConfigError, id="not-a-warehouse"),
            pytest.param({"redshift_conn_id": "no_such_warehouse"}, LoadConfigError, id="undefined-conn"),
        ],
    )
    def test_configuration_mistakes_fail_at_once_without_retries(self, sales_table, kwargs, kind):
        from airflow_sales_provider.compat import AirflowFailException

        with pytest.raises(AirflowFailException) as info:
            loader(**{"s3_prefix": "c/", **kwargs}).execute(context())
        assert isinstance(info.value, kind) and isinstance(info.value, ValueError)

    def test_a_data_error_is_retried_as_any_failure(self, s3, sales_table, warehouse):
        from airflow_sales_provider.compat import AirflowFailException

        s3.put_object(Bucket=BUCKET, Key="e/a.csv", Body=b"sale_id,store_id\n1,1\n")
        with pytest.raises(LoadError) as info:
            loader(s3_prefix="e/").execute(context())
        assert not isinstance(info.value, AirflowFailException)


class TestBadInput:
    def test_malformed_row_names_key_line_and_column(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="b/ok.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        s3.put_object(
            Bucket=BUCKET,
            Key="b/bad.csv",
            Body=csv_body([(2, 1, "2024-03-01", "2", ""), (3, 1, "2024-03-01", "abc", "")]),
        )
        with pytest.raises(LoadError) as info:
            loader(s3_prefix="b/").execute(context())
        message = str(info.value)
        assert f"s3://{BUCKET}/b/bad.csv" in message
        assert "line 3" in message and "column amount" in message and "abc" in message
        assert rows(warehouse) == [] and ledger(warehouse) == []

    def test_schema_drift_names_missing_and_unexpected_columns_before_loading(
        self, s3, sales_table, warehouse
    ):
        s3.put_object(Bucket=BUCKET, Key="s/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        s3.put_object(
            Bucket=BUCKET, Key="s/b.csv", Body=b"sale_id,sale_date,amount,discount\n2,2024-03-01,1,0\n"
        )
        with pytest.raises(LoadError) as info:
            loader(s3_prefix="s/").execute(context())
        message = str(info.value)
        assert "s3://sales-raw/s/b.csv" in message
        assert (
            "missing columns ['store_id', 'updated_at']" in message
            and "unexpected columns ['discount']" in message
        )
        assert rows(warehouse) == [] and ledger(warehouse) == []

    def test_headerless_file_with_the_wrong_field_count(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="s/a.csv", Body=b"1,1,2024-03-01\n")
        with pytest.raises(LoadError, match=r"s3://sales-raw/s/a.csv.*line 2|s3://sales-raw/s/a.csv.*line 1"):
            loader(
                s3_prefix="s/", header=False, columns=["sale_id", "store_id", "sale_date", "amount"]
            ).execute(context())
        assert rows(warehouse) == []

    @pytest.mark.parametrize(
        "body", [pytest.param(b"", id="zero-bytes"), pytest.param(HEADER.encode(), id="header-only")]
    )
    def test_empty_file_is_skipped_recorded_or_refused(
        self, s3, sales_table, warehouse, body, caplog, capsys
    ):
        s3.put_object(Bucket=BUCKET, Key="e/empty.csv", Body=body)
        s3.put_object(Bucket=BUCKET, Key="e/full.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        with pytest.raises(
            LoadError, match=r"empty file\(s\) and allow_empty=False: s3://sales-raw/e/empty.csv"
        ):
            loader(s3_prefix="e/", allow_empty=False).execute(context())
        assert rows(warehouse) == []
        result = loader(s3_prefix="e/").execute(context())
        assert result["files_empty"] == ["e/empty.csv"] and result["rows_loaded"] == 1
        assert "e/empty.csv is empty" in caplog.text + capsys.readouterr().out  # Airflow 3 logs via structlog
        assert [r[:2] for r in ledger(warehouse)] == [("e/empty.csv", 0), ("e/full.csv", 1)]

    def test_nothing_selected(self, s3, sales_table):
        assert loader(s3_prefix="none/").execute(context())["files_loaded"] == []
        with pytest.raises(LoadError, match="nothing to load into public.sales"):
            loader(s3_prefix="none/", allow_empty=False).execute(context())

    def test_parquet_on_postgres_is_a_clear_error(self, s3, sales_table):
        with pytest.raises(LoadConfigError, match="parquet.*only supported on Redshift"):
            loader(s3_keys=["x.parquet"], format="parquet").execute(context())

    def test_backend_terminated_mid_copy_rolls_back_and_the_rerun_loads_once(
        self, s3, sales_table, warehouse
    ):
        big = gzip.compress(
            csv_body([(i, 1, "2024-03-01", i % 100, "") for i in range(300_000)]), compresslevel=1
        )
        s3.put_object(Bucket=BUCKET, Key="k/big.csv.gz", Body=big)
        s3.put_object(Bucket=BUCKET, Key="k/a.csv", Body=csv_body([(-1, 1, "2024-03-01", "1", "")]))
        killed = threading.Event()

        def terminate_copy() -> None:
            deadline = time.monotonic() + 60
            with warehouse.cursor() as cur:
                while time.monotonic() < deadline and not killed.is_set():
                    cur.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY %%' AND pid <> pg_backend_pid()"
                    )
                    if cur.fetchall():
                        killed.set()
                    time.sleep(0.01)

        killer = threading.Thread(target=terminate_copy)
        killer.start()
        try:
            with pytest.raises(LoadError, match="lost the warehouse connection|rolled back"):
                loader(s3_prefix="k/").execute(context("r1", 1))
        finally:
            killed.set()
            killer.join()
        assert rows(warehouse, "SELECT count(*) FROM sales") == [(0,)]
        assert ledger(warehouse) == []
        result = loader(s3_prefix="k/").execute(context("r1", 2))
        assert result["rows_loaded"] == 300_001
        loader(s3_prefix="k/").execute(context("r1", 3))
        assert rows(warehouse, "SELECT count(*), count(DISTINCT sale_id) FROM sales") == [(300_001, 300_001)]


class TestJson:
    def test_json_lines_auto(self, s3, sales_table, warehouse):
        lines = [
            {"sale_id": 1, "store_id": 1, "sale_date": "2024-03-01", "amount": 2.5, "note": "ignored"},
            {"SALE_ID": 2, "Store_Id": 3, "sale_date": "2024-03-01", "amount": None},
        ]
        s3.put_object(Bucket=BUCKET, Key="j/a.json", Body="\n".join(json.dumps(x) for x in lines).encode())
        loader(s3_prefix="j/", format="json", columns=["sale_id", "store_id", "sale_date", "amount"]).execute(
            context()
        )
        assert rows(warehouse) == [(1, 1, "2024-03-01", "2.50"), (2, 3, "2024-03-01", None)]

    def test_json_with_jsonpaths_and_gzip(self, s3, sales_table, warehouse):
        paths = {"jsonpaths": ["$.id", "$.store.id", "$['day']", "$.lines[0].amount"]}
        s3.put_object(Bucket=BUCKET, Key="meta/paths.json", Body=json.dumps(paths).encode())
        doc = {"id": 4, "store": {"id": 8}, "day": "2024-03-04", "lines": [{"amount": "9.99"}]}
        s3.put_object(Bucket=BUCKET, Key="j/a.json.gz", Body=gzip.compress(json.dumps(doc).encode() + b"\n"))
        loader(
            s3_prefix="j/",
            format="json",
            json_paths=f"s3://{BUCKET}/meta/paths.json",
            columns=["sale_id", "store_id", "sale_date", "amount"],
        ).execute(context())
        assert rows(warehouse) == [(4, 8, "2024-03-04", "9.99")]

    def test_bad_json_line_names_key_and_line(self, s3, sales_table, warehouse):
        s3.put_object(
            Bucket=BUCKET,
            Key="j/a.json",
            Body=b'{"sale_id": 1, "store_id": 1, "sale_date": "2024-03-01"}\n{oops\n',
        )
        with pytest.raises(LoadError, match=r"s3://sales-raw/j/a.json at line 2: invalid JSON"):
            loader(s3_prefix="j/", format="json", columns=["sale_id", "store_id", "sale_date"]).execute(
                context()
            )
        assert rows(warehouse) == []


class TestInjection:
    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"table": "sales; DROP TABLE sales"}, id="table"),
            pytest.param({"schema": 'public"; DROP TABLE sales; --'}, id="schema"),
            pytest.param({"columns": ["sale_id", "amount) ; DROP TABLE sales; --"]}, id="column"),
            pytest.param(
                {
                    "mode": "replace_partition",
                    "partition_column": "sale_date = sale_date OR 1=1 --",
                    "partition_value": "x",
                },
                id="partition_column",
            ),
            pytest.param({"mode": "upsert", "upsert_keys": ["sale_id", "1=1; --"]}, id="upsert_keys"),
            pytest.param(
                {"mode": "upsert", "upsert_keys": ["sale_id"], "order_by": ["amount; DROP TABLE sales"]},
                id="order_by",
            ),
            pytest.param({"ledger_table": "ledger; DROP TABLE sales"}, id="ledger_table"),
        ],
    )
    def test_identifiers_are_validated(self, s3, sales_table, warehouse, kwargs):
        s3.put_object(Bucket=BUCKET, Key="i/a.csv", Body=csv_body([(1, 1, "2024-03-01", "1", "")]))
        with pytest.raises(
            (InvalidIdentifierError, LoadConfigError), match="not a valid SQL identifier|must be"
        ):
            loader(s3_prefix="i/", **kwargs).execute(context())
        assert rows(warehouse, "SELECT count(*) FROM sales") == [(0,)]

    def test_partition_value_is_a_bound_parameter(self, s3, sales_table, warehouse):
        with warehouse.cursor() as cur:
            cur.execute("INSERT INTO sales VALUES (9, 9, '2024-01-01', 1, NULL)")
        s3.put_object(Bucket=BUCKET, Key="i/a.csv", Body=b"sale_id,store_id,amount\n1,1,1\n")
        with pytest.raises(LoadError, match="invalid input syntax for type date"):
            loader(
                s3_prefix="i/",
                allow_missing_columns=True,
                mode="replace_partition",
                partition_column="sale_date",
                partition_value="2024-03-01' OR '1'='1",
            ).execute(context())
        assert rows(warehouse) == [(9, 9, "2024-01-01", "1.00")]

    def test_header_with_an_injection_attempt_is_drift_not_sql(self, s3, sales_table, warehouse):
        s3.put_object(
            Bucket=BUCKET,
            Key="i/a.csv",
            Body=b'sale_id,store_id,sale_date,"amount"") FROM x; --"\n1,1,2024-03-01,1\n',
        )
        with pytest.raises(LoadError, match="unexpected columns"):
            loader(s3_prefix="i/").execute(context())


class TestKill:
    def test_on_kill_cancels_the_running_copy_and_nothing_is_loaded(self, s3, sales_table, warehouse):
        big = gzip.compress(csv_body([(i, 1, "2024-03-01", 1, "") for i in range(300_000)]), compresslevel=1)
        s3.put_object(Bucket=BUCKET, Key="k/big.csv.gz", Body=big)
        op = loader(s3_prefix="k/")
        killed = threading.Event()

        def kill_when_copying() -> None:  # Airflow calls on_kill from outside the running execute()
            deadline = time.monotonic() + 60
            with warehouse.cursor() as cur:
                while time.monotonic() < deadline and not killed.is_set():
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %%'")
                    if cur.fetchone()[0]:
                        op.on_kill()
                        killed.set()
                    time.sleep(0.01)

        watcher = threading.Thread(target=kill_when_copying)
        watcher.start()
        try:
            with pytest.raises(LoadError, match="(?i)cancel"):
                op.execute(context())
        finally:
            killed.set()
            watcher.join()
        assert rows(warehouse, "SELECT count(*) FROM sales") == [(0,)] and ledger(warehouse) == []


class TestOptions:
    def test_date_style_for_us_dates(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="f/a.csv", Body=b"sale_id,store_id,sale_date\n1,1,03/04/2024\n")
        loader(s3_prefix="f/", date_format="MM/DD/YYYY", allow_missing_columns=True).execute(context())
        assert rows(warehouse, "SELECT sale_date::text FROM sales") == [("2024-03-04",)]

    def test_pipe_delimited_with_null_marker(self, s3, sales_table, warehouse):
        body = b"sale_id|store_id|sale_date|amount\n1|1|2024-03-01|NULL\n2|1|2024-03-01|5\n"
        s3.put_object(Bucket=BUCKET, Key="f/a.psv", Body=body)
        loader(s3_prefix="f/", delimiter="|", null_string="NULL", allow_missing_columns=True).execute(
            context()
        )
        assert rows(warehouse, "SELECT sale_id, amount IS NULL FROM sales ORDER BY 1") == [
            (1, True),
            (2, False),
        ]

    @pytest.mark.parametrize(
        ("kwargs", "files", "message"),
        [
            pytest.param(
                {"compression": "gzip"},
                {"c/a.csv": HEADER + "1,1,2024-03-01,1,\n"},
                "not gzip",
                id="gzip-claimed",
            ),
            pytest.param(
                {"allow_missing_columns": True},
                {
                    "c/a.csv": "sale_id,store_id,sale_date\n1,1,2024-03-01\n",
                    "c/b.csv": HEADER + "2,1,2024-03-01,1,\n",
                },
                "all files of one load must have the same columns",
                id="headers-differ",
            ),
            pytest.param(
                {"date_format": "YYYYMMDD"}, {"c/a.csv": HEADER}, "not supported on PostgreSQL", id="datefmt"
            ),
            pytest.param(
                {"time_format": "epochsecs"},
                {"c/a.csv": HEADER},
                "time_format is Redshift only",
                id="timefmt",
            ),
            pytest.param({"s3_bucket": None}, {}, "s3_prefix needs s3_bucket", id="no-bucket"),
            pytest.param({"s3_prefix": None}, {}, "give s3_keys", id="no-source"),
            pytest.param(
                {"s3_prefix": None, "s3_keys": {"bucket": "other", "keys": ["a"]}},
                {},
                "names bucket 'other'",
                id="bucket-mismatch",
            ),
            pytest.param({"mode": "merge"}, {}, "mode 'merge' is not supported", id="mode"),
            pytest.param({"mode": "upsert"}, {}, "needs upsert_keys", id="upsert-keys"),
            pytest.param(
                {"mode": "replace_partition", "partition_column": "sale_date"},
                {},
                "partition_value",
                id="partition",
            ),
            pytest.param({"method": "jdbc"}, {}, "method 'jdbc'", id="method"),
            pytest.param(
                {"redshift_conn_id": "aws_default"}, {}, "not a supported warehouse", id="conn-type"
            ),
        ],
    )
    def test_configuration_errors_are_clear_and_load_nothing(
        self, s3, sales_table, warehouse, kwargs, files, message
    ):
        for key, body in files.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        with pytest.raises((LoadError, LoadConfigError, ValueError), match=message):
            loader(**{"s3_prefix": "c/", **kwargs}).execute(context())
        assert rows(warehouse) == []

    def test_jsonpaths_must_match_the_columns(self, s3, sales_table, warehouse):
        s3.put_object(Bucket=BUCKET, Key="meta/p.json", Body=b'{"jsonpaths": ["$.a"]}')
        s3.put_object(Bucket=BUCKET, Key="j/a.json", Body=b'{"a": 1}\n')
        with pytest.raises(LoadConfigError, match="one path per column"):
            loader(
                s3_prefix="j/",
                format="json",
                json_paths=f"s3://{BUCKET}/meta/p.json",
                columns=["sale_id", "store_id"],
            ).execute(context())


class TestRedshiftSqlPathOnPostgres:
    """The Redshift ``method="sql"`` orchestration on a real connection: the sandbox PostgreSQL with the
    Redshift dialect (redshift_connector cannot open a session on vanilla PostgreSQL). Everything before
    the COPY is real — ledger, ``LOCK``, probes, the manifest in S3 — then PostgreSQL rejects
    ``COPY ... FROM 's3://...' IAM_ROLE``, so the failure path (rollback, nothing loaded) runs as well."""

    def test_everything_up_to_copy_then_rollback(self, s3, sales_table, warehouse):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from airflow_sales_provider.sql.dialects import RedshiftDialect

        body = csv_body([(1, 1, "2024-03-01", "1", "")])
        s3.put_object(Bucket=BUCKET, Key="r/a.csv", Body=body)
        op = loader(s3_prefix="r/", iam_role_arn="arn:aws:iam::123456789012:role/loader")
        op.hook.__dict__["connection"] = (
            PostgresHook(postgres_conn_id="warehouse_default"),
            RedshiftDialect(),
        )
        with pytest.raises(LoadError, match=r"load into public.sales failed: .*nothing was loaded") as info:
            op.execute(context())
        assert "COPY" in str(info.value) or "syntax error" in str(info.value)
        manifest_key = "_sales_load/manifests/sales_load=load=manual__1.manifest"
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
        assert manifest["entries"] == [
            {"url": f"s3://{BUCKET}/r/a.csv", "mandatory": True, "meta": {"content_length": len(body)}}
        ]
        assert rows(warehouse) == [] and ledger(warehouse) == []  # the ledger table exists, empty
