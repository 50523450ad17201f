"""Pure parts of the sandbox's Athena engine: statement parsing, partition predicates, Glue table
reading and Athena's result text. No server, no S3."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from airflow_sales_provider.sandbox.athena import sql as athena_sql
from airflow_sales_provider.sandbox.athena.catalog import table_from_glue
from airflow_sales_provider.sandbox.athena.errors import AthenaQueryError
from airflow_sales_provider.sandbox.athena.results import column_info, csv_line, java_double, to_text


class TestParse:
    @pytest.mark.parametrize(
        ("sql", "kind", "target"),
        [
            pytest.param("SELECT 1;", "SELECT", None, id="select"),
            pytest.param("-- note\nWITH a AS (SELECT 1) SELECT * FROM a", "SELECT", None, id="with"),
            pytest.param(
                "CREATE DATABASE IF NOT EXISTS Sales", "CREATE_DATABASE", ("sales", ""), id="database"
            ),
            pytest.param(
                "CREATE EXTERNAL TABLE t (a int) LOCATION 's3://b/p/'",
                "CREATE_TABLE",
                ("ctx", "t"),
                id="table",
            ),
            pytest.param("MSCK REPAIR TABLE `s`.`t`", "MSCK", ("s", "t"), id="msck"),
            pytest.param("DROP TABLE IF EXISTS t", "DROP_TABLE", ("ctx", "t"), id="drop"),
        ],
    )
    def test_statement_kinds(self, sql, kind, target):
        statement = athena_sql.parse(sql, "ctx")
        assert statement.kind == kind
        assert statement.target == target

    @pytest.mark.parametrize(
        ("sql", "reason"),
        [
            pytest.param("SELECT * FORM t", "SYNTAX_ERROR: line 1:15: mismatched input 't'", id="syntax"),
            pytest.param("SELECT 1; SELECT 2", "SYNTAX_ERROR: Only one sql statement is allowed", id="two"),
            pytest.param("UPDATE t SET a = 1", "NOT_SUPPORTED: line 1:1:", id="update"),
        ],
    )
    def test_errors_read_like_athena(self, sql, reason):
        with pytest.raises(AthenaQueryError) as raised:
            athena_sql.parse(sql, "ctx")
        assert str(raised.value).startswith(reason)

    def test_tables_read_skip_ctes_and_resolve_the_session_database(self):
        tree = athena_sql.parse(
            "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent r JOIN other.stores s ON r.a = s.a "
            "JOIN awsdatacatalog.sales.orders o2 ON o2.a = r.a",
            "sales",
        ).tree
        refs = athena_sql.tables_read(tree, "sales")
        assert sorted((r.database, r.name, sorted(r.aliases)) for r in refs) == [
            ("other", "stores", ["s"]),
            ("sales", "orders", ["o2", "orders"]),
        ]
        athena_sql.rename_tables(refs)
        assert '"sales"."orders" AS o2' in athena_sql.to_duckdb(tree)
        assert "awsdatacatalog" not in athena_sql.to_duckdb(tree)

    def test_unqualified_table_without_a_session_database_fails(self):
        tree = athena_sql.parse("SELECT * FROM orders", None).tree
        with pytest.raises(AthenaQueryError, match="SCHEMA_NOT_FOUND: line 1:15: Schema must be specified"):
            athena_sql.tables_read(tree, None)


class TestPartitionPredicate:
    def predicate(self, sql: str) -> str | None:
        tree = athena_sql.parse(sql, "sales").tree
        ref = next(r for r in athena_sql.tables_read(tree, "sales") if r.name == "orders")
        return athena_sql.partition_predicate(tree, ref, ["day"], ["order_id", "amount"])

    def test_keeps_only_conjuncts_on_partition_columns(self):
        assert self.predicate("SELECT * FROM orders WHERE day = '2025-01-01' AND amount > 3") == (
            "((day = '2025-01-01'))"
        )

    def test_qualified_by_alias_in_a_join(self):
        predicate = self.predicate(
            "SELECT * FROM orders o JOIN stores s ON o.store = s.store "
            "WHERE o.day >= '2025-01-02' AND s.day = 'x'"
        )
        assert predicate == "((day >= '2025-01-02'))"

    @pytest.mark.parametrize(
        "sql",
        [
            pytest.param("SELECT * FROM orders", id="no-where"),
            pytest.param("SELECT * FROM orders WHERE day = '1' OR amount > 1", id="or-with-data-column"),
            pytest.param("SELECT * FROM orders o JOIN stores s ON 1 = 1 WHERE day = '1'", id="ambiguous"),
            pytest.param(
                "SELECT * FROM orders WHERE day IN (SELECT max(day) FROM orders)", id="subquery-reads-all"
            ),
        ],
    )
    def test_reads_every_partition_when_unsure(self, sql):
        assert self.predicate(sql) is None


class TestGlueTables:
    def glue_table(self, serde: str, params: dict[str, str], **extra) -> dict:
        return {
            "Name": "Orders",
            "Parameters": extra.get("table_params", {}),
            "PartitionKeys": [{"Name": "Day", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [{"Name": "ID", "Type": "int"}],
                "Location": "s3://raw/orders/",
                "InputFormat": extra.get("input_format", "org.apache.hadoop.mapred.TextInputFormat"),
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": params},
            },
        }

    def test_lazy_simple_serde_with_header(self):
        table = table_from_glue(
            "sales",
            self.glue_table(
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                {"field.delim": "|"},
                table_params={"skip.header.line.count": "1"},
            ),
        )
        assert (table.name, table.format, table.delimiter, table.quote, table.skip_header_lines) == (
            "orders",
            "csv",
            "|",
            "",
            1,
        )
        assert table.columns == [("id", "int")]
        assert table.partition_keys == [("day", "string")]

    def test_hive_default_delimiter_is_ctrl_a(self):
        table = table_from_glue(
            "s", self.glue_table("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {})
        )
        assert table.delimiter == "\x01"

    def test_open_csv_json_and_parquet(self):
        open_csv = table_from_glue("s", self.glue_table("org.apache.hadoop.hive.serde2.OpenCSVSerde", {}))
        assert (open_csv.format, open_csv.delimiter, open_csv.quote, open_csv.escape) == (
            "csv",
            ",",
            '"',
            '"',
        )
        assert (
            table_from_glue("s", self.glue_table("org.openx.data.jsonserde.JsonSerDe", {})).format == "json"
        )
        parquet = self.glue_table(
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            {},
            input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        )
        assert table_from_glue("s", parquet).format == "parquet"

    def test_unknown_serde_is_a_clear_failure(self):
        with pytest.raises(AthenaQueryError, match="HIVE_UNSUPPORTED_FORMAT: .*'com.example.AvroSerDe'"):
            table_from_glue("s", self.glue_table("com.example.AvroSerDe", {}, input_format="x"))

    @pytest.mark.parametrize(
        ("hive", "duckdb"),
        [
            ("string", "TEXT"),
            ("int", "INT"),
            ("decimal(12,2)", "DECIMAL(12, 2)"),
            ("array<string>", "TEXT[]"),
        ],
    )
    def test_column_types(self, hive, duckdb):
        assert athena_sql.duckdb_type(hive) == duckdb


class TestResultText:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            pytest.param(None, None, id="null"),
            pytest.param(True, "true", id="bool"),
            pytest.param(3, "3", id="int"),
            pytest.param(3.0, "3.0", id="double"),
            pytest.param(1e7, "1.0E7", id="double-exponent"),
            pytest.param(0.00012, "1.2E-4", id="double-small"),
            pytest.param(decimal.Decimal("12.50"), "12.50", id="decimal"),
            pytest.param(dt.date(2025, 1, 2), "2025-01-02", id="date"),
            pytest.param(dt.datetime(2025, 1, 2, 3, 4, 5, 678901), "2025-01-02 03:04:05.678", id="timestamp"),
            pytest.param([1, None], "[1, null]", id="array"),
            pytest.param({"a": 1, "b": "x"}, "{a=1, b=x}", id="row"),
        ],
    )
    def test_values_as_trino_prints_them(self, value, text):
        assert to_text(value) == text

    def test_csv_quotes_every_value_and_leaves_null_empty(self):
        assert csv_line(["a,b", None, "", 'say "hi"', "two\nlines"]) == (
            '"a,b",,"","say ""hi""","two\nlines"\n'
        )

    @pytest.mark.parametrize(
        ("duckdb", "trino", "precision", "scale"),
        [
            ("VARCHAR", "varchar", 2147483647, 0),
            ("HUGEINT", "bigint", 19, 0),
            ("DECIMAL(12,2)", "decimal", 12, 2),
            ("INTEGER[]", "array", 0, 0),
            ("DOUBLE", "double", 17, 0),
        ],
    )
    def test_column_info(self, duckdb, trino, precision, scale):
        info = column_info("x", duckdb)
        assert (info["Type"], info["Precision"], info["Scale"]) == (trino, precision, scale)

    def test_java_double_negative_and_specials(self):
        assert [java_double(v) for v in (-2.5e20, float("nan"), float("-inf"), -0.0)] == [
            "-2.5E20",
            "NaN",
            "-Infinity",
            "-0.0",
        ]


class TestLocations:
    @pytest.mark.parametrize(
        ("location", "expected"),
        [
            pytest.param("s3://lake/curated/sales/", ("lake", "curated/sales/"), id="prefix"),
            pytest.param("s3a://lake/x", ("lake", "x"), id="s3a"),
            pytest.param("s3://lake/", ("lake", ""), id="bucket-slash"),
            pytest.param("s3://lake", ("lake", ""), id="bucket-alone"),
        ],
    )
    def test_split_as_the_provider_splits_s3_uris(self, location, expected):
        from airflow_sales_provider.sandbox.athena.catalog import split_s3_uri

        assert split_s3_uri(location) == expected

    @pytest.mark.parametrize("location", ["lake/x", "https://lake/x", "s3:///x", ""])
    def test_anything_else_fails_as_athena_fails(self, location):
        from airflow_sales_provider.sandbox.athena.catalog import split_s3_uri

        with pytest.raises(AthenaQueryError, match="INVALID_TABLE_PROPERTY.*not an s3:// URI"):
            split_s3_uri(location)
