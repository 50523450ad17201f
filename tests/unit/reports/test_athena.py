"""The Athena report's pure logic: request tokens, poll decisions, Athena CSV to JSON Lines."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from airflow_sales_provider.objects import parse_s3_uri
from airflow_sales_provider.reports.athena import (
    COST_EXCEEDED,
    DONE,
    KEEP_WAITING,
    QUERY_FAILED,
    QueryStatus,
    client_request_token,
    cost_message,
    count_csv_rows,
    decide,
    failure_message,
    iter_csv_records,
    iter_jsonl_lines,
    next_client_request_token,
)


def lines(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


class TestClientRequestToken:
    def test_same_task_instance_and_sql_give_the_same_token(self):
        a = client_request_token("d", "t", "scheduled__2024-01-01", "SELECT 1")
        b = client_request_token("d", "t", "scheduled__2024-01-01", "SELECT 1")
        assert a == b
        assert len(a) == 64  # Athena accepts 32..128 characters

    @pytest.mark.parametrize(
        "other",
        [
            pytest.param(("d2", "t", "r", "SELECT 1", -1), id="dag"),
            pytest.param(("d", "t2", "r", "SELECT 1", -1), id="task"),
            pytest.param(("d", "t", "r2", "SELECT 1", -1), id="run"),
            pytest.param(("d", "t", "r", "SELECT 2", -1), id="sql"),
            pytest.param(("d", "t", "r", "SELECT 1", 3), id="map-index"),
        ],
    )
    def test_any_changed_input_changes_the_token(self, other):
        base = client_request_token("d", "t", "r", "SELECT 1")
        dag_id, task_id, run_id, sql, map_index = other
        assert client_request_token(dag_id, task_id, run_id, sql, map_index=map_index) != base

    def test_fields_cannot_run_into_each_other(self):
        assert client_request_token("ab", "c", "r", "s") != client_request_token("a", "bc", "r", "s")

    def test_next_token_is_deterministic_and_new(self):
        token = client_request_token("d", "t", "r", "SELECT 1")
        assert next_client_request_token(token, "q1") == next_client_request_token(token, "q1")
        assert next_client_request_token(token, "q1") not in (token, next_client_request_token(token, "q2"))


class TestParseS3Uri:
    def test_bucket_and_key(self):
        assert parse_s3_uri("s3://reports/daily_sales/2024-01-01.csv") == (
            "reports",
            "daily_sales/2024-01-01.csv",
        )

    @pytest.mark.parametrize(
        "uri", ["", "reports/x.csv", "s3://reports/", "s3://reports/prefix/", "https://reports/x.csv"]
    )
    def test_not_an_object_uri(self, uri):
        with pytest.raises(ValueError, match="report_s3_uri must look like s3://bucket/"):
            parse_s3_uri(uri, "report_s3_uri")


def status(state: str, scanned: int = 0, reason: str | None = None) -> QueryStatus:
    return QueryStatus.from_response(
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {
                    "State": state,
                    "StateChangeReason": reason,
                    "SubmissionDateTime": datetime(2024, 1, 1, tzinfo=timezone.utc),
                },
                "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": 1234},
                "ResultConfiguration": {"OutputLocation": "s3://results/q-1.csv"},
            }
        }
    )


class TestDecide:
    @pytest.mark.parametrize(
        ("state", "scanned", "limit", "expected"),
        [
            pytest.param("QUEUED", 0, None, KEEP_WAITING, id="queued"),
            pytest.param("RUNNING", 10, 100, KEEP_WAITING, id="running-under-limit"),
            pytest.param("RUNNING", 100, 100, KEEP_WAITING, id="running-at-limit"),
            pytest.param("RUNNING", 101, 100, COST_EXCEEDED, id="running-over-limit"),
            pytest.param("SUCCEEDED", 5, None, DONE, id="succeeded"),
            pytest.param("SUCCEEDED", 101, 100, COST_EXCEEDED, id="succeeded-over-limit"),
            pytest.param("FAILED", 0, None, QUERY_FAILED, id="failed"),
            pytest.param("CANCELLED", 0, 100, QUERY_FAILED, id="cancelled"),
        ],
    )
    def test_decision(self, state, scanned, limit, expected):
        assert decide(status(state, scanned), limit) == expected

    def test_status_reads_the_response_and_round_trips_through_a_trigger_event(self):
        s = status("SUCCEEDED", 42)
        assert (s.data_scanned_bytes, s.engine_execution_time_ms) == (42, 1234)
        assert s.output_location == "s3://results/q-1.csv"
        assert s.submitted_at == datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
        assert QueryStatus.from_dict(json.loads(json.dumps(s.to_dict()))) == s

    def test_messages_name_the_query_reason_and_bytes(self):
        failed = failure_message(status("FAILED", reason="SYNTAX_ERROR: line 1:8"))
        assert failed == "Athena query q-1 ended FAILED: SYNTAX_ERROR: line 1:8"
        assert "no StateChangeReason" in failure_message(status("CANCELLED"))
        cost = cost_message(status("RUNNING", 3 * 1024**3), 1024**3)
        assert "q-1" in cost
        assert "3,221,225,472 bytes (3.0 GiB)" in cost
        assert "max_bytes_scanned=1,073,741,824 bytes (1.0 GiB)" in cost


ATHENA_CSV = '"id","city","note"\r\n"1","Lyon, FR","say ""hi"""\r\n"2",,""\r\n"3","two\nlines",\r\n'


class TestAthenaCsv:
    def test_records_tell_null_from_empty_string(self):
        assert list(iter_csv_records(lines(ATHENA_CSV))) == [
            ["id", "city", "note"],
            ["1", "Lyon, FR", 'say "hi"'],
            ["2", None, ""],
            ["3", "two\nlines", None],
        ]

    def test_jsonl_lines(self):
        out = list(iter_jsonl_lines(lines(ATHENA_CSV)))
        assert all(line.endswith("\n") for line in out)
        assert [json.loads(line) for line in out] == [
            {"id": "1", "city": "Lyon, FR", "note": 'say "hi"'},
            {"id": "2", "city": None, "note": ""},
            {"id": "3", "city": "two\nlines", "note": None},
        ]

    def test_jsonl_keeps_non_ascii_text(self):
        (line,) = iter_jsonl_lines(lines('"name"\n"Zoë"\n'))
        assert line == '{"name":"Zoë"}\n'

    def test_empty_result_and_header_only(self):
        assert list(iter_jsonl_lines(lines(""))) == []
        assert list(iter_jsonl_lines(lines('"id"\n'))) == []
        assert count_csv_rows(lines("")) == 0
        assert count_csv_rows(lines('"id"\n')) == 0

    def test_count_rows_counts_records_not_lines(self):
        assert count_csv_rows(lines(ATHENA_CSV)) == 3
