"""The loader's decisions without Airflow or a connection: load/options.py, plan.py, redshift.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_sales_provider.load.options import load_job, name_list
from airflow_sales_provider.load.plan import LoadDataError, RunInfo, TableColumn
from airflow_sales_provider.load.redshift import RejectedRow, rows_loaded, statement_event
from airflow_sales_provider.objects import Probe, S3Object
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import FormatOptions, LoadConfigError

PURE_MODULES = (
    "airflow_sales_provider.objects",
    "airflow_sales_provider.arrival.settle",
    "airflow_sales_provider.arrival.xcom",
    "airflow_sales_provider.load.options",
    "airflow_sales_provider.load.plan",
    "airflow_sales_provider.load.postgres",
    "airflow_sales_provider.load.redshift",
    "airflow_sales_provider.load.streams",
    "airflow_sales_provider.load.timing",
)
TABLE = [
    TableColumn("sale_id", not_null=True, has_default=False),
    TableColumn("amount", not_null=False, has_default=False),
    TableColumn("inserted_at", not_null=False, has_default=True),
]
A, B = S3Object("in/a.csv", 1, "e1"), S3Object("in/b.csv", 1, "e2")


def job(**kwargs):
    options = {
        "table": "sales",
        "schema": "analytics",
        "columns": None,
        "mode": "append",
        "method": "sql",
        "format": FormatOptions(),
        "compression": "auto",
        "partition_column": None,
        "partition_value": None,
        "upsert_keys": None,
        "order_by": None,
        "ledger_table": "sales_load_ledger",
    }
    return load_job(**{**options, **kwargs})


def probes(header: list[str]) -> dict[str, Probe]:
    return {"in/a.csv": Probe(gzip=False, header=header, empty=False)}


def test_the_pure_modules_import_no_airflow():
    probe = (
        f"import sys; import {', '.join(PURE_MODULES)}; "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'airflow'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


class TestOptions:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("updated_at", ("updated_at",), id="one-name"),
            pytest.param(["a", "b"], ("a", "b"), id="list"),
            pytest.param(None, (), id="none"),
        ],
    )
    def test_a_single_name_is_a_one_element_list(self, value, expected):
        assert name_list(value, "order_by") == expected

    def test_list_parameters_reach_the_job_as_tuples(self):
        loaded = job(mode="upsert", upsert_keys="sale_id", order_by="updated_at DESC", columns="sale_id")
        assert (loaded.upsert_keys, loaded.order_by, loaded.columns) == (
            ("sale_id",),
            ("updated_at DESC",),
            ("sale_id",),
        )
        with pytest.raises(LoadConfigError, match="list of column names"):
            name_list({"a": 1}, "columns")

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            pytest.param({"mode": "merge"}, LoadConfigError, "mode 'merge'", id="mode"),
            pytest.param({"method": "jdbc"}, LoadConfigError, "method 'jdbc'", id="method"),
            pytest.param({"table": "a;b"}, InvalidIdentifierError, "", id="table"),
            pytest.param({"mode": "upsert"}, LoadConfigError, "needs upsert_keys", id="upsert"),
            pytest.param({"method": "data_api"}, LoadConfigError, "data_api_kwargs", id="data-api"),
            pytest.param(
                {"format": FormatOptions(delimiter=";;")}, LoadConfigError, "delimiter", id="format"
            ),
        ],
    )
    def test_configuration_mistakes(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            job(**kwargs)

    def test_no_ledger_table_means_no_ledger(self):
        assert job(ledger_table=None).ledger is None
        assert job().ledger == '"analytics"."sales_load_ledger"'


class TestSelection:
    def test_append_skips_what_the_ledger_holds(self):
        assert job().select([A, B], {("in/a.csv", "e1")}) == ([B], [A])

    def test_a_new_etag_is_a_new_object(self):
        assert job().select([A], {("in/a.csv", "old")}) == ([A], [])

    @pytest.mark.parametrize("mode", ["truncate_insert", "replace_partition"])
    def test_replace_modes_are_all_or_nothing(self, mode):
        kwargs = {"partition_column": "d", "partition_value": "x"} if mode == "replace_partition" else {}
        replace = job(mode=mode, **kwargs)
        assert replace.select([A, B], {("in/a.csv", "e1")}) == ([A, B], [])
        assert replace.select([A, B], {("in/a.csv", "e1"), ("in/b.csv", "e2")}) == ([], [A, B])

    def test_force_reload_loads_everything(self):
        assert job(force_reload=True).select([A, B], {("in/a.csv", "e1")}) == ([A, B], [])


class TestDrift:
    def test_a_nullable_column_missing_from_the_file_is_drift_by_default(self):
        with pytest.raises(LoadDataError, match=r"s3://raw/in/a.csv.*missing columns \['amount'\]\."):
            job().plan("raw", probes(["sale_id"]), TABLE, ordered_header=False)

    def test_allow_missing_columns_lets_nullable_columns_be_null(self):
        plan = job(allow_missing_columns=True).plan("raw", probes(["sale_id"]), TABLE, ordered_header=False)
        assert plan.columns == ("sale_id",)
        with pytest.raises(LoadDataError, match=r"missing columns \['sale_id'\]"):
            job(allow_missing_columns=True).plan("raw", probes(["amount"]), TABLE, ordered_header=False)

    def test_listing_columns_is_the_other_opt_in(self):
        plan = job(columns=["sale_id"]).plan("raw", probes(["sale_id"]), TABLE, ordered_header=False)
        assert plan.columns == ("sale_id",)

    def test_unexpected_and_duplicated_columns(self):
        problems = job().drift(["sale_id", "amount", "amount", "x"], ["sale_id", "amount"], TABLE)
        assert problems == "unexpected columns ['x']; duplicated columns ['amount']"

    def test_redshift_needs_the_same_order_in_every_file(self):
        two = {
            "in/a.csv": Probe(False, ["sale_id", "amount"], False),
            "in/b.csv": Probe(False, ["amount", "sale_id"], False),
        }
        assert job().plan("raw", two, TABLE[:2], ordered_header=False).columns == ("sale_id", "amount")
        with pytest.raises(LoadDataError, match="same order"):
            job().plan("raw", two, TABLE[:2], ordered_header=True)

    def test_a_missing_table_is_named(self):
        with pytest.raises(LoadDataError, match="analytics.sales does not exist"):
            job().plan("raw", probes(["sale_id"]), [], ordered_header=False)


class TestRecords:
    def test_ledger_entries_carry_the_run(self):
        run = RunInfo("dag", "manual__1", 2, "load")
        (entry,) = job().ledger_entries("raw", [A], {"in/a.csv": 7}, run)
        assert entry.as_row()[:9] == ("analytics.sales", "raw", "in/a.csv", "e1", 1, 7, "dag", "manual__1", 2)
        assert entry.as_copy_commit_row("s3://raw/in/a.csv") == (
            "analytics.sales", "raw", "in/a.csv", "e1", 1, "dag", "manual__1", 2, "s3://raw/in/a.csv",
        )  # fmt: skip

    def test_run_path_is_safe_in_an_s3_key(self):
        assert RunInfo("d", "scheduled__2024-03-01T00:00:00+00:00", 1, "t", 3).path() == (
            "d=t-3=scheduled__2024-03-01T00_00_00+00_00"
        )

    def test_gzip_and_empty_files(self):
        plain, packed = Probe(False, None, False), Probe(True, None, False)
        with pytest.raises(LoadConfigError, match="all alike"):
            job().uniform_gzip({"in/a.csv": plain, "in/b.csv": packed}, [A, B])
        with pytest.raises(LoadDataError, match="not gzip"):
            job(compression="gzip").check_probes("raw", {"in/a.csv": plain})
        empty = {"in/a.csv": Probe(False, None, True)}
        assert job().check_probes("raw", empty) == ["in/a.csv"]
        with pytest.raises(LoadDataError, match="allow_empty=False: s3://raw/in/a.csv"):
            job(allow_empty=False).check_probes("raw", empty)


class TestDataApiAnswers:
    def test_statement_events(self):
        assert statement_event("s", {"Status": "FINISHED", "SubStatements": [{"ResultRows": 3}]}) == {
            "status": "success",
            "statement_id": "s",
            "result_rows": [3],
        }
        failed = statement_event("s", {"Status": "FAILED", "Error": "bad"})
        assert failed == {"status": "error", "statement_id": "s", "state": "FAILED", "message": "bad"}

    def test_rows_loaded_reads_the_mode_statement(self):
        assert rows_loaded({"mode_statement": 1}, [-1, 42]) == 42
        assert rows_loaded({"mode_statement": 1, "rows_loaded": None}, [-1, -1]) is None

    def test_a_short_rejected_row_is_padded(self):
        assert RejectedRow.of(["f", 3]) == RejectedRow("f", 3, None, None, None)
