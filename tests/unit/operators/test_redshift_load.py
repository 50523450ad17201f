"""Pure helpers of the loader: the arrival-sensor XCom contract, JSON lines, error translation."""

from __future__ import annotations

import pytest

from airflow_sales_provider.hooks.warehouse import (
    IterStream,
    JsonLinesError,
    S3Object,
    compile_json_path,
    iter_lines,
    json_lines_to_copy_text,
)
from airflow_sales_provider.operators.redshift_load import (
    RedshiftLoadOperator,
    S3KeySelection,
    ledger_records,
    parse_s3_keys,
    translate_load_errors,
)
from airflow_sales_provider.sql.load import LoadConfigError
from airflow_sales_provider.triggers.redshift_data import RedshiftLoadTrigger, statement_result_rows

KEYS = [{"key": "in/a.csv", "size": 10, "etag": '"abc"'}, {"key": "in/b.csv", "size": 0, "etag": "def"}]
OBJECTS = [S3Object("in/a.csv", 10, "abc"), S3Object("in/b.csv", 0, "def")]


class TestParseS3Keys:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param(
                ["in/a.csv", "in/b.csv"],
                S3KeySelection([S3Object("in/a.csv"), S3Object("in/b.csv")]),
                id="keys",
            ),
            pytest.param(KEYS, S3KeySelection(OBJECTS), id="dicts"),
            pytest.param(
                {"bucket": "raw", "prefix": "in/", "keys": KEYS},
                S3KeySelection(OBJECTS, bucket="raw"),
                id="xcom",
            ),
            pytest.param(
                str({"bucket": "raw", "prefix": "in/", "keys": KEYS}),
                S3KeySelection(OBJECTS, bucket="raw"),
                id="xcom-str",
            ),
            pytest.param(
                '{"bucket": "raw", "prefix": "in/", "manifest_uri": "s3://raw/m.json", "key_count": 5000}',
                S3KeySelection([], bucket="raw", manifest_uri="s3://raw/m.json"),
                id="manifest-json-str",
            ),
            pytest.param("['in/a.csv']", S3KeySelection([S3Object("in/a.csv")]), id="list-str"),
            pytest.param("in/a.csv", S3KeySelection([S3Object("in/a.csv")]), id="one-key"),
            pytest.param("None", S3KeySelection([]), id="xcom-never-pushed"),
        ],
    )
    def test_shapes(self, value, expected):
        assert parse_s3_keys(value) == expected

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("[__import__('os').system('id')]", id="no-eval"),
            pytest.param("{'bucket': 'raw'}", id="no-keys"),
            pytest.param([{"size": 1}], id="dict-without-key"),
            pytest.param(42, id="number"),
            pytest.param("  ", id="blank"),
        ],
    )
    def test_refusals(self, value):
        with pytest.raises(LoadConfigError):
            parse_s3_keys(value)


class TestJsonLines:
    def test_paths(self):
        assert compile_json_path("$.a.b[2]['c d']") == ["a", "b", 2, "c d"]
        with pytest.raises(ValueError, match="not supported"):
            compile_json_path("$..a")

    def test_auto_paths_and_escaping(self):
        lines = [b'{"id": 1, "Name": "a\\tb\\nc", "tags": ["x"], "ok": true}', b"", b'{"id": null}']
        out = list(json_lines_to_copy_text(lines, ["id", "name", "tags", "ok"]))
        assert out == [b'1\ta\\tb\\nc\t["x"]\ttrue\n', b"\\N\t\\N\t\\N\t\\N\n"]
        by_path = list(json_lines_to_copy_text([b'{"a": {"b": [5]}}'], ["x"], ["$.a.b[0]"]))
        assert by_path == [b"5\n"]

    def test_bad_line_carries_its_number(self):
        with pytest.raises(JsonLinesError) as info:
            list(json_lines_to_copy_text([b'{"id": 1}', b"[1]"], ["id"]))
        assert info.value.line == 2

    def test_streams(self):
        class Body:
            def __init__(self, data: bytes) -> None:
                self.data = data

            def read(self, n: int) -> bytes:
                out, self.data = self.data[:n], self.data[n:]
                return out

        assert list(iter_lines(Body(b"a\nbb\nccc"))) == [b"a", b"bb", b"ccc"]
        stream = IterStream(iter([b"ab", b"cde", b"f"]))
        assert [stream.read(4), stream.read(4), stream.read(4)] == [b"abcd", b"ef", b""]


def test_redshift_load_errors_are_translated():
    rejected = [("s3://raw/in/a.csv                ", 7, "amount    ", "Invalid digit, Value 'x'", "x")]
    message = translate_load_errors("analytics.sales", RuntimeError("Load into table failed"), rejected)
    assert message.startswith("bad row in s3://raw/in/a.csv at line 7, column amount: Invalid digit")
    assert "ledger are unchanged" in message
    assert "failed: boom" in translate_load_errors("t", RuntimeError("boom\nmore"), [])


def test_ledger_records_from_the_data_api():
    records = [
        [{"stringValue": "in/a.csv"}, {"stringValue": "abc"}],
        [{"longValue": 10}, {"stringValue": "x"}],
    ]
    assert ledger_records(records) == {("in/a.csv", "abc")}


def test_trigger_serializes_to_its_class_path_and_every_argument():
    trigger = RedshiftLoadTrigger("id-1", aws_conn_id="aws", region_name="eu-west-1", poll_interval=3)
    path, kwargs = trigger.serialize()
    assert path == "airflow_sales_provider.triggers.redshift_data.RedshiftLoadTrigger"
    assert kwargs == {
        "statement_id": "id-1",
        "aws_conn_id": "aws",
        "region_name": "eu-west-1",
        "poll_interval": 3,
        "cancel_on_kill": True,
    }
    assert RedshiftLoadTrigger(**kwargs).serialize() == (path, kwargs)
    assert statement_result_rows({"SubStatements": [{"ResultRows": 4}, {}]}) == [4, -1]


def test_operator_init_only_assigns_and_declares_templated_fields():
    op = RedshiftLoadOperator(
        task_id="t", table="{{ params.table }}", s3_keys="{{ ti.xcom_pull('w') }}", mode="{{ m }}"
    )
    assert op.table == "{{ params.table }}" and op.mode == "{{ m }}"
    for name in (
        "s3_keys",
        "s3_prefix",
        "table",
        "schema",
        "partition_value",
        "redshift_conn_id",
        "aws_conn_id",
    ):
        assert name in op.template_fields


def test_execute_complete_fails_with_the_statement_and_succeeds_with_the_rows():
    op = RedshiftLoadOperator(task_id="t", table="sales")
    meta = {"table": "sales", "statement_id": "s1", "mode_statement": 1, "rows_loaded": None}
    with pytest.raises(Exception, match=r"statement s1, FAILED\): Load into table 'sales' failed"):
        op.execute_complete(
            {},
            {
                "status": "error",
                "statement_id": "s1",
                "state": "FAILED",
                "message": "Load into table 'sales' failed",
            },
            meta,
        )
    done = op.execute_complete(
        {}, {"status": "success", "statement_id": "s1", "result_rows": [-1, 42, 2]}, meta
    )
    assert done["rows_loaded"] == 42
    with pytest.raises(Exception, match="unexpected trigger event"):
        op.execute_complete({}, {"status": "success", "statement_id": "other"}, meta)


def test_redshift_copy_never_gets_access_keys(monkeypatch, capsys, caplog):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_KEYS_ONLY",
        '{"conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "' + secret + '"}',
    )
    op = RedshiftLoadOperator(task_id="t", table="sales", aws_conn_id="aws_keys_only")
    with pytest.raises(LoadConfigError, match="needs iam_role_arn") as info:
        op._iam_role()
    assert secret not in str(info.value) and "AKIA" not in str(info.value)
    assert secret not in caplog.text + capsys.readouterr().out
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_WITH_ROLE",
        '{"conn_type": "aws", "extra": {"role_arn": "arn:aws:iam::123456789012:role/loader"}}',
    )
    assert RedshiftLoadOperator(task_id="t", table="s", aws_conn_id="aws_with_role")._iam_role() == (
        "arn:aws:iam::123456789012:role/loader"
    )
