"""The sandbox's Athena engine through Athena's API (boto3 over HTTP): tables from Glue and DDL,
real results, partition pruning, Athena's result CSV, tokens, failures, stop and concurrency.

Reference results come from DuckDB run in this process over the same Python rows (not over S3 and
not through the engine), so the engine's catalog, object reading, partitions and result format are
what is checked.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration

RESULTS = "s3://athena-results/q/"
DAYS = ["2025-01-01", "2025-01-02", "2025-01-03"]
# (order_id, store, amount, note) per day; a NULL amount, an empty note, quotes, commas and a newline.
ORDERS = {
    "2025-01-01": [(1, "lyon", 10.5, "first"), (2, "paris", 3.0, 'say "hi"'), (3, "lyon", None, "")],
    "2025-01-02": [(4, "paris", 7.25, "a, b"), (5, "nice", 1.0, "two\nlines")],
    "2025-01-03": [(6, "lyon", 2.5, "x"), (7, "paris", 100.0, "y"), (8, "nice", 0.5, "z")],
}
STORES = [("lyon", "AURA", 3), ("paris", "IDF", 12), ("nice", "PACA", None)]


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def orders_csv(rows: list[tuple[Any, ...]]) -> bytes:
    lines = ["order_id,store,amount,note"] + [",".join(_csv_field(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def s3(sandbox):
    client = sandbox.boto3_client("s3")
    for bucket in ("raw", "athena-results"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def athena(sandbox):
    return sandbox.boto3_client("athena")


@pytest.fixture
def tables(sandbox, s3):
    """orders: quoted CSV with a header, one partition per day (one gzip); stores: JSON lines."""
    sizes = {}
    for day, rows in ORDERS.items():
        body = orders_csv(rows)
        key = f"orders/day={day}/part-0.csv"
        if day == "2025-01-03":
            body, key = gzip.compress(body), key + ".gz"
        s3.put_object(Bucket="raw", Key=key, Body=body)
        sizes[day] = len(body)
    s3.put_object(Bucket="raw", Key="orders/_SUCCESS", Body=b"")  # Athena skips hidden objects
    stores = "".join(json.dumps({"store": s, "region": r, "staff": n}) + "\n" for s, r, n in STORES)
    s3.put_object(Bucket="raw", Key="stores/stores.json", Body=stores.encode())
    added = sandbox.athena.create_table_from_s3(
        "sales",
        "orders",
        "s3://raw/orders/",
        {"order_id": "int", "store": "string", "amount": "double", "note": "string"},
        quoted=True,
        partitioned_by={"day": "string"},
    )
    assert added == [{"day": d} for d in DAYS]
    sandbox.athena.create_table_from_s3(
        "sales",
        "stores",
        "s3://raw/stores/",
        {"store": "string", "region": "string", "staff": "int"},
        format="json",
    )
    return sizes


def run(athena, sql: str, *, database: str | None = "sales", **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "QueryString": sql,
        "ResultConfiguration": {"OutputLocation": RESULTS},
        **extra,
    }
    if database:
        request["QueryExecutionContext"] = {"Database": database}
    query_execution_id = athena.start_query_execution(**request)["QueryExecutionId"]
    return wait(athena, query_execution_id)


def wait(athena, query_execution_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        time.sleep(0.02)
    raise AssertionError(f"query {query_execution_id} did not finish")


def rows_of(
    athena, query_execution_id: str, page_size: int = 1000
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=query_execution_id, PaginationConfig={"PageSize": page_size}
    )
    columns: list[dict[str, Any]] = []
    rows: list[list[Any]] = []
    for page in pages:
        columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    return columns, rows[1:]  # the first row is the header


def reference(sql: str) -> list[list[Any]]:
    """The same query (translated by sqlglot) run by DuckDB over in-memory tables of the same rows."""
    import duckdb
    import sqlglot

    con = duckdb.connect()
    con.execute("CREATE SCHEMA sales")
    columns = "order_id INTEGER, store VARCHAR, amount DOUBLE, note VARCHAR, day VARCHAR"
    con.execute(f"CREATE TABLE sales.orders ({columns})")
    for day, rows in ORDERS.items():
        con.executemany("INSERT INTO sales.orders VALUES (?, ?, ?, ?, ?)", [(*r, day) for r in rows])
    con.execute("CREATE TABLE sales.stores (store VARCHAR, region VARCHAR, staff INTEGER)")
    con.executemany("INSERT INTO sales.stores VALUES (?, ?, ?)", STORES)
    con.execute("SET schema = 'sales'")
    return [list(r) for r in con.execute(sqlglot.transpile(sql, read="trino", write="duckdb")[0]).fetchall()]


def normalise(columns: list[dict[str, Any]], rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        values = []
        for column, value in zip(columns, row, strict=True):
            if value is not None and column["Type"] in ("double", "real"):
                values.append(round(float(value), 9))
            else:
                values.append(value)
        out.append(values)
    return out


def as_text(rows: list[list[Any]]) -> list[list[Any]]:
    return [
        [None if v is None else round(v, 9) if isinstance(v, float) else str(v) for v in row] for row in rows
    ]


QUERIES = [
    pytest.param("SELECT count(*) AS n, sum(amount) AS total FROM orders", id="aggregate"),
    pytest.param(
        "SELECT s.region, count(*) AS orders, round(sum(o.amount), 2) AS total FROM orders o "
        "JOIN stores s ON o.store = s.store GROUP BY s.region ORDER BY s.region",
        id="join",
    ),
    pytest.param(
        "SELECT order_id, amount FROM orders WHERE day = '2025-01-02' ORDER BY order_id", id="partition"
    ),
    pytest.param(
        "SELECT order_id, store, sum(amount) OVER (PARTITION BY store ORDER BY order_id) AS running "
        "FROM orders ORDER BY order_id",
        id="window",
    ),
    pytest.param("SELECT order_id FROM orders WHERE amount > 1000", id="empty"),
    pytest.param(
        "SELECT order_id, coalesce(amount, -1) AS amount, staff FROM orders o "
        "LEFT JOIN stores s ON o.store = s.store ORDER BY order_id",
        id="nulls",
    ),
    pytest.param(
        "WITH daily AS (SELECT day, sum(amount) AS total FROM orders GROUP BY day) "
        "SELECT day, total, approx_distinct(day) OVER () AS days FROM daily ORDER BY day",
        id="cte-approx-distinct",
    ),
    pytest.param(
        "SELECT date_format(date_trunc('month', cast(day AS date)), '%Y-%m') AS month, "
        "cast(count(*) AS varchar) AS n FROM orders GROUP BY 1",
        id="date-functions",
    ),
]


class TestResults:
    @pytest.mark.parametrize("sql", QUERIES)
    def test_results_equal_duckdb_over_the_same_rows(self, athena, tables, sql):
        execution = run(athena, sql)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
        columns, rows = rows_of(athena, execution["QueryExecutionId"])
        assert normalise(columns, rows) == as_text(reference(sql))

    def test_result_csv_is_athenas_byte_for_byte(self, sandbox, athena, tables, s3):
        execution = run(
            athena, "SELECT order_id, amount, note FROM orders WHERE day < '2025-01-03' ORDER BY 1"
        )
        location = execution["ResultConfiguration"]["OutputLocation"]
        assert location == f"{RESULTS}{execution['QueryExecutionId']}.csv"
        body = s3.get_object(Bucket="athena-results", Key=location.split("/", 3)[3])["Body"].read().decode()
        assert body == (
            '"order_id","amount","note"\n'
            '"1","10.5","first"\n'
            '"2","3.0","say ""hi"""\n'
            '"3",,""\n'
            '"4","7.25","a, b"\n'
            '"5","1.0","two\nlines"\n'
        )
        metadata = s3.get_object(Bucket="athena-results", Key=location.split("/", 3)[3] + ".metadata")
        assert [c["Type"] for c in json.loads(metadata["Body"].read())["ColumnInfo"]] == [
            "integer",
            "double",
            "varchar",
        ]

    def test_column_info_and_paging(self, athena, tables):
        execution = run(athena, "SELECT order_id, store, amount, day FROM orders ORDER BY order_id")
        first = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"], MaxResults=3)
        assert [[c.get("VarCharValue") for c in r["Data"]] for r in first["ResultSet"]["Rows"]] == [
            ["order_id", "store", "amount", "day"],
            ["1", "lyon", "10.5", "2025-01-01"],
            ["2", "paris", "3.0", "2025-01-01"],
        ]
        info = first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        assert [(c["Name"], c["Type"]) for c in info] == [
            ("order_id", "integer"),
            ("store", "varchar"),
            ("amount", "double"),
            ("day", "varchar"),
        ]
        columns, rows = rows_of(athena, execution["QueryExecutionId"], page_size=3)
        assert [r[0] for r in rows] == [str(i) for i in range(1, 9)]


class TestScan:
    def test_one_day_scans_only_that_days_objects(self, athena, tables):
        one_day = run(athena, "SELECT count(*) FROM orders WHERE day = '2025-01-02'")
        every_day = run(athena, "SELECT count(*) FROM orders")
        assert one_day["Statistics"]["DataScannedInBytes"] == tables["2025-01-02"]
        assert every_day["Statistics"]["DataScannedInBytes"] == sum(tables.values())

    def test_pruning_follows_range_and_in_filters(self, athena, tables):
        ranged = run(athena, "SELECT count(*) FROM orders WHERE day >= '2025-01-02' AND amount > 0")
        listed = run(athena, "SELECT count(*) FROM orders o WHERE o.day IN ('2025-01-01', '2025-01-03')")
        assert ranged["Statistics"]["DataScannedInBytes"] == tables["2025-01-02"] + tables["2025-01-03"]
        assert listed["Statistics"]["DataScannedInBytes"] == tables["2025-01-01"] + tables["2025-01-03"]


class TestDDL:
    def test_if_exists_and_if_not_exists_decide_between_success_and_athenas_error(self, athena, s3):
        table = "CREATE EXTERNAL TABLE{} rules.t (a int) LOCATION 's3://raw/rules/'"
        outcomes = [
            ("CREATE DATABASE rules", "SUCCEEDED"),
            ("CREATE DATABASE rules", "SCHEMA_ALREADY_EXISTS: Schema 'rules' already exists"),
            ("CREATE DATABASE IF NOT EXISTS rules", "SUCCEEDED"),
            (table.format(""), "SUCCEEDED"),
            (table.format(""), "ALREADY_EXISTS: Table 'awsdatacatalog.rules.t' already exists"),
            (table.format(" IF NOT EXISTS"), "SUCCEEDED"),
            ("DROP TABLE rules.t", "SUCCEEDED"),
            ("DROP TABLE rules.t", "TABLE_NOT_FOUND: Table 'awsdatacatalog.rules.t' does not exist"),
            ("DROP TABLE IF EXISTS rules.t", "SUCCEEDED"),
            ("DROP DATABASE rules", "SUCCEEDED"),
            ("DROP DATABASE rules", "SCHEMA_NOT_FOUND: Schema 'rules' does not exist"),
            ("DROP DATABASE IF EXISTS rules", "SUCCEEDED"),
        ]
        for sql, expected in outcomes:
            status = run(athena, sql, database=None)["Status"]
            assert status.get("StateChangeReason", status["State"]) == expected, sql

    def test_athena_ddl_creates_the_table_and_msck_registers_partitions(self, sandbox, athena, s3):
        for day, rows in ORDERS.items():
            s3.put_object(Bucket="raw", Key=f"ddl/day={day}/data.csv", Body=orders_csv(rows))
        assert (
            run(athena, "CREATE DATABASE IF NOT EXISTS shop", database=None)["Status"]["State"] == "SUCCEEDED"
        )
        create = run(
            athena,
            "CREATE EXTERNAL TABLE shop.orders (order_id int, store string, amount double, note string) "
            "PARTITIONED BY (day string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' "
            "WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '\"') "
            "STORED AS TEXTFILE LOCATION 's3://raw/ddl/' TBLPROPERTIES ('skip.header.line.count' = '1')",
            database=None,
        )
        assert create["Status"]["State"] == "SUCCEEDED", create["Status"].get("StateChangeReason")
        assert create["StatementType"] == "DDL"
        glue = sandbox.boto3_client("glue")
        assert glue.get_partitions(DatabaseName="shop", TableName="orders")["Partitions"] == []

        repair = run(athena, "MSCK REPAIR TABLE orders", database="shop")
        assert repair["Status"]["State"] == "SUCCEEDED"
        values = sorted(
            p["Values"][0] for p in glue.get_partitions(DatabaseName="shop", TableName="orders")["Partitions"]
        )
        assert values == DAYS
        text = (
            s3.get_object(Bucket="athena-results", Key=f"q/{repair['QueryExecutionId']}.txt")["Body"]
            .read()
            .decode()
        )
        assert "Repair: Added partition to metastore orders:day=2025-01-02" in text

        total = run(athena, "SELECT count(*), sum(amount) FROM shop.orders")
        _, rows = rows_of(athena, total["QueryExecutionId"])
        assert rows == [["8", "124.75"]]


class TestAthenaContract:
    def test_same_client_request_token_is_the_same_query(self, athena, tables):
        request = {
            "QueryString": "SELECT count(*) FROM orders",
            "QueryExecutionContext": {"Database": "sales"},
            "ResultConfiguration": {"OutputLocation": RESULTS},
            "ClientRequestToken": "t" * 40,
        }
        first = athena.start_query_execution(**request)["QueryExecutionId"]
        wait(athena, first)
        again = athena.start_query_execution(**request)["QueryExecutionId"]
        other = athena.start_query_execution(**{**request, "ClientRequestToken": "u" * 40})[
            "QueryExecutionId"
        ]
        assert again == first != other
        with pytest.raises(
            athena.exceptions.InvalidRequestException, match="Idempotent parameters do not match"
        ):
            athena.start_query_execution(**{**request, "QueryString": "SELECT 1"})
        listed = athena.list_query_executions()["QueryExecutionIds"]
        assert sorted(listed) == sorted([first, other])

    def test_stop_query_execution_cancels(self, sandbox, athena, tables):
        moto_api(sandbox, "set-transition", {"progression": "manual", "times": 1000})
        try:
            query_execution_id = athena.start_query_execution(
                QueryString="SELECT count(*) FROM sales.orders",
                ResultConfiguration={"OutputLocation": RESULTS},
            )["QueryExecutionId"]
            assert (
                athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"]["Status"][
                    "State"
                ]
                == "QUEUED"
            )
            athena.stop_query_execution(QueryExecutionId=query_execution_id)
        finally:
            moto_api(sandbox, "unset-transition", None)
        execution = athena.get_query_execution(QueryExecutionId=query_execution_id)["QueryExecution"]
        assert execution["Status"]["State"] == "CANCELLED"
        with pytest.raises(athena.exceptions.InvalidRequestException, match="Current state: CANCELLED"):
            athena.get_query_results(QueryExecutionId=query_execution_id)

    def test_workgroup_result_location_and_bytes_scanned_cutoff(self, sandbox, athena, s3):
        # Athena's smallest per-query cutoff is 10 MB: two 6 MB objects go over it, one does not.
        line = b"x" * 99 + b"\n"
        for part in range(2):
            s3.put_object(Bucket="raw", Key=f"big/part-{part}.csv", Body=line * 60_000)
        sandbox.athena.create_table_from_s3("sales", "big", "s3://raw/big/", {"x": "string"}, header=False)
        athena.create_work_group(
            Name="capped",
            Configuration={
                "ResultConfiguration": {"OutputLocation": "s3://athena-results/capped/"},
                "BytesScannedCutoffPerQuery": 10_000_000,
            },
        )
        small = run(athena, "SELECT 1 AS one", WorkGroup="capped")
        assert small["Status"]["State"] == "SUCCEEDED"
        assert small["ResultConfiguration"]["OutputLocation"].startswith("s3://athena-results/capped/")
        assert small["WorkGroup"] == "capped"

        big = run(athena, "SELECT count(*) FROM big", WorkGroup="capped")
        assert big["Status"]["State"] == "CANCELLED"
        assert "Bytes scanned limit was exceeded" in big["Status"]["StateChangeReason"]
        assert big["Statistics"]["DataScannedInBytes"] > 10_000_000
        assert (
            athena.list_query_executions(WorkGroup="capped")["QueryExecutionIds"][0]
            == big["QueryExecutionId"]
        )
        uncapped = run(athena, "SELECT count(*) AS n FROM big")
        assert uncapped["Status"]["State"] == "SUCCEEDED"
        assert uncapped["Statistics"]["DataScannedInBytes"] == 2 * 6_000_000

    def test_twenty_queries_at_once_all_complete(self, athena, tables):
        ids = [
            athena.start_query_execution(
                QueryString=f"SELECT count(*) + {i} FROM orders o JOIN stores s ON o.store = s.store",
                QueryExecutionContext={"Database": "sales"},
                ResultConfiguration={"OutputLocation": RESULTS},
            )["QueryExecutionId"]
            for i in range(20)
        ]
        results = {}

        def collect(qid: str) -> None:
            execution = wait(athena, qid)
            results[qid] = (execution["Status"]["State"], rows_of(athena, qid)[1])

        threads = [threading.Thread(target=collect, args=(qid,)) for qid in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert [results[qid] for qid in ids] == [("SUCCEEDED", [[str(8 + i)]]) for i in range(20)]


def moto_api(sandbox, action: str, transition: dict[str, Any] | None) -> None:
    import urllib.request

    body: dict[str, Any] = {"model_name": "athena::execution"}
    if transition is not None:
        body["transition"] = transition
    request = urllib.request.Request(
        f"{sandbox.aws_endpoint_url}/moto-api/state-manager/{action}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


class TestFailures:
    @pytest.mark.parametrize(
        ("sql", "reason"),
        [
            pytest.param("SELECT * FORM orders", "SYNTAX_ERROR: line 1:", id="syntax"),
            pytest.param(
                "SELECT *\nFROM nope",
                "TABLE_NOT_FOUND: line 2:6: Table 'awsdatacatalog.sales.nope' does not exist",
                id="missing-table",
            ),
            pytest.param(
                "SELECT * FROM other.orders",
                "SCHEMA_NOT_FOUND: line 1:15: Schema 'other' does not exist",
                id="missing-schema",
            ),
            pytest.param(
                "SELECT order_id, nope FROM orders",
                "COLUMN_NOT_FOUND: line 1:18: Column 'nope' cannot be resolved",
                id="missing-column",
            ),
            pytest.param("SELECT store + 1 FROM orders", "TYPE_MISMATCH: ", id="type-error"),
            pytest.param("INSERT INTO orders VALUES (1)", "NOT_SUPPORTED: ", id="not-supported"),
        ],
    )
    def test_bad_queries_fail_with_athenas_reason(self, athena, tables, sql, reason):
        execution = run(athena, sql)
        assert execution["Status"]["State"] == "FAILED"
        assert execution["Status"]["StateChangeReason"].startswith(reason)
        assert execution["Status"]["AthenaError"]["ErrorCategory"] == 2  # a user error, not retryable
        assert execution["Status"]["AthenaError"]["Retryable"] is False

    def test_table_on_a_missing_bucket_fails_clearly(self, sandbox, athena, tables):
        sandbox.athena.create_table_from_s3("sales", "ghost", "s3://no-such-bucket/x/", {"a": "int"})
        execution = run(athena, "SELECT * FROM ghost")
        assert execution["Status"]["State"] == "FAILED"
        assert "NoSuchBucket" in execution["Status"]["StateChangeReason"]
        assert "s3://no-such-bucket/x/" in execution["Status"]["StateChangeReason"]

    def test_missing_output_bucket_fails_like_athena(self, athena, tables):
        execution = athena.start_query_execution(
            QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://nowhere/"}
        )
        execution = wait(athena, execution["QueryExecutionId"])
        assert execution["Status"]["State"] == "FAILED"
        assert (
            execution["Status"]["StateChangeReason"]
            == "INVALID_OUTPUT_LOCATION: Unable to verify/create output bucket nowhere"
        )

    def test_api_errors(self, athena, tables):
        with pytest.raises(athena.exceptions.InvalidRequestException, match="No output location provided"):
            athena.start_query_execution(QueryString="SELECT 1")
        with pytest.raises(athena.exceptions.InvalidRequestException, match="WorkGroup nope is not found"):
            athena.start_query_execution(
                QueryString="SELECT 1", WorkGroup="nope", ResultConfiguration={"OutputLocation": RESULTS}
            )
        with pytest.raises(athena.exceptions.InvalidRequestException, match="was not found"):
            athena.get_query_execution(QueryExecutionId="0000")
        import urllib.request

        garbage = urllib.request.Request(
            athena.meta.endpoint_url,
            data=b"{not json",
            headers={
                "X-Amz-Target": "AmazonAthena.StartQueryExecution",
                "Content-Type": "application/x-amz-json-1.1",
            },
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(garbage, timeout=30)
        assert raised.value.code == 400
        assert json.loads(raised.value.read())["__type"] == "SerializationException"
        # the endpoint still answers after all of these
        assert run(athena, "SELECT 1 AS one", database=None)["Status"]["State"] == "SUCCEEDED"


class TestFormats:
    def test_parquet_by_name_with_a_missing_column(self, sandbox, athena, s3, tmp_path):
        import duckdb

        path = tmp_path / "orders.parquet"
        duckdb.sql(
            "SELECT i AS ORDER_ID, 'store-' || (i % 3) AS store, i * 1.5 AS amount FROM range(1, 101) t(i)"
        ).write_parquet(str(path))
        s3.put_object(Bucket="raw", Key="pq/day=2025-01-01/part-0.parquet", Body=path.read_bytes())
        s3.put_object(Bucket="raw", Key="pq/day=2025-01-02/part-0.parquet", Body=path.read_bytes())
        sandbox.athena.create_table_from_s3(
            "sales",
            "pq",
            "s3://raw/pq/",
            {"order_id": "bigint", "store": "string", "amount": "double", "channel": "string"},
            format="parquet",
            partitioned_by={"day": "date"},
        )
        execution = run(
            athena,
            "SELECT day, count(*) AS n, sum(amount) AS total, count(channel) AS channels FROM pq "
            "WHERE day = DATE '2025-01-02' GROUP BY day",
        )
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
        columns, rows = rows_of(athena, execution["QueryExecutionId"])
        assert rows == [["2025-01-02", "100", "7575.0", "0"]]
        assert [c["Type"] for c in columns] == ["date", "bigint", "double", "bigint"]
        assert execution["Statistics"]["DataScannedInBytes"] == path.stat().st_size

    def test_lazy_simple_text_without_header_and_bad_values_as_null(self, sandbox, athena, s3):
        s3.put_object(Bucket="raw", Key="tsv/a.tsv", Body=b"1\tlyon\t2.5\nx\tparis\t\\N\n3\tnice\n")
        sandbox.athena.create_table_from_s3(
            "sales",
            "tsv",
            "s3://raw/tsv/",
            {"id": "int", "store": "string", "amount": "double"},
            header=False,
            delimiter="\t",
        )
        execution = run(athena, "SELECT id, store, amount FROM tsv ORDER BY store")
        _, rows = rows_of(athena, execution["QueryExecutionId"])
        assert rows == [["1", "lyon", "2.5"], ["3", "nice", None], [None, "paris", None]]

    def test_malformed_json_fails_with_the_object_named(self, sandbox, athena, s3):
        s3.put_object(Bucket="raw", Key="bad/part-0.json", Body=b'{"a": 1}\n{"a": \n')
        sandbox.athena.create_table_from_s3("sales", "bad", "s3://raw/bad/", {"a": "int"}, format="json")
        execution = run(athena, "SELECT sum(a) FROM bad")
        assert execution["Status"]["State"] == "FAILED"
        assert execution["Status"]["StateChangeReason"].startswith("HIVE_BAD_DATA: Malformed JSON")
        assert "s3://raw/bad/part-0.json" in execution["Status"]["StateChangeReason"]


class TestHelpers:
    def test_query_helper_returns_rows_and_raises_athenas_reason(self, sandbox, tables):
        from airflow_sales_provider.sandbox import AthenaQueryFailed

        rows = sandbox.athena.query("SELECT store, staff FROM stores ORDER BY store", database="sales")
        assert rows == [
            {"store": "lyon", "staff": "3"},
            {"store": "nice", "staff": None},
            {"store": "paris", "staff": "12"},
        ]
        with pytest.raises(
            AthenaQueryFailed, match="ended FAILED: TABLE_NOT_FOUND: .*'awsdatacatalog.sales.nope'"
        ):
            sandbox.athena.query("SELECT * FROM nope", database="sales")

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param({"format": "avro"}, "format must be one of csv, json, parquet", id="format"),
            pytest.param({"location": "raw/x/"}, "location must be an s3:// prefix", id="location"),
        ],
    )
    def test_create_table_refuses_bad_input(self, sandbox, kwargs, message):
        params = {"location": "s3://raw/x/", **kwargs}
        with pytest.raises(ValueError, match=message):
            sandbox.athena.create_table_from_s3("sales", "x", columns={"a": "int"}, **params)
