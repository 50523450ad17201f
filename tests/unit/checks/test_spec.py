"""Spec validation, the SQL guard, evaluation and result formatting: pure logic, no database."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest

from airflow_sales_provider.checks import (
    Partition,
    SpecError,
    compile_checks,
    evaluate,
    parse_spec,
    summarize,
)
from airflow_sales_provider.checks.results import failure_message, format_table, json_safe
from airflow_sales_provider.checks.spec import load_spec, parse_duration, parse_partition
from airflow_sales_provider.checks.sqlguard import fragment_problems, select_problems
from airflow_sales_provider.sql.dialects import PostgresDialect


class TestParseSpec:
    def test_expansion_names_and_defaults(self):
        checks = parse_spec(
            [
                {"check": "not_null", "columns": ["a", "b"]},
                {"check": "not_null", "columns": ["c", "d"], "name": "ids", "severity": "warn"},
                {"check": "unique", "columns": ["a", "b"]},
                {"check": "range", "column": "x", "min": 0},
                {"check": "reconcile", "against": {"table": "s.t"}, "column": "amount"},
            ]
        )
        assert [(c.name, c.type, c.column, c.severity) for c in checks] == [
            ("not_null_a", "not_null", "a", "fail"),
            ("not_null_b", "not_null", "b", "fail"),
            ("ids_c", "not_null", "c", "warn"),
            ("ids_d", "not_null", "d", "warn"),
            ("unique_a_b", "unique", "a, b", "fail"),
            ("range_x", "range", "x", "fail"),
            ("reconcile_sum_amount", "reconcile", "amount", "fail"),
        ]
        assert checks[0].params["max_nulls"] == 0
        assert checks[-1].params["tolerance"] == 0
        assert checks[-1].params["against"] == {
            "table": ("s", "t"),
            "function": "sum",
            "column": "amount",
            "partition_column": None,
        }

    @pytest.mark.parametrize(
        ("spec", "problem"),
        [
            pytest.param([], "checks: must be a non-empty list of checks", id="empty"),
            pytest.param("not a list", "checks: must be a non-empty list", id="not-a-list"),
            pytest.param([42], "checks[0]: each check must be a mapping", id="not-a-mapping"),
            pytest.param([{"min": 1}], "checks[0].check: is required (one of: row_count", id="no-type"),
            pytest.param(
                [{"check": ["row_count"]}],
                "checks[0].check: unknown check type ['row_count']",
                id="list-type",
            ),
            pytest.param(
                [{"check": "row_count", "min": -1}], "checks[0].min: must be >= 0, got -1", id="negative"
            ),
            pytest.param(
                [{"check": "row_count", "min": "one"}], "checks[0].min: must be an integer", id="type"
            ),
            pytest.param(
                [{"check": "row_count", "min": True}], "checks[0].min: must be an integer", id="bool"
            ),
            pytest.param(
                [{"check": "not_null", "column": "a", "columns": ["b"]}],
                "checks[0]: give either 'column' or 'columns', not both",
                id="column-and-columns",
            ),
            pytest.param(
                [{"check": "not_null", "columns": ["a", "a"]}],
                "checks[0].columns: lists a column more",
                id="dup",
            ),
            pytest.param(
                [{"check": "not_null", "column": "a", "max_null_pct": 120}],
                "checks[0].max_null_pct: is a percentage",
                id="pct",
            ),
            pytest.param(
                [{"check": "relationships", "column": "a"}],
                "checks[0].field: is required",
                id="relationships-field",
            ),
            pytest.param(
                [{"check": "sql", "sql": "SELECT 1", "op": "~", "value": 1}],
                "checks[0].op: must be one of",
                id="op",
            ),
            pytest.param(
                [{"check": "sql", "sql": "SELECT 1", "op": "="}], "checks[0].value: is required", id="value"
            ),
            pytest.param(
                [{"check": "reconcile", "column": "a", "against": {"table": "t", "sql": "SELECT 1"}}],
                "checks[0].against: give exactly one of 'table' or 'sql'",
                id="against-both",
            ),
            pytest.param(
                [
                    {
                        "check": "reconcile",
                        "column": "a",
                        "against": {"table": "t", "column": "x", "where": "1=1"},
                    }
                ],
                "checks[0].against.where: unknown field",
                id="against-unknown",
            ),
            pytest.param(
                [{"check": "reconcile", "function": "median", "column": "a", "against": {"table": "t"}}],
                "checks[0].function: must be one of count, count_distinct, sum, avg, min, max, got 'median'",
                id="function",
            ),
            pytest.param(
                [{"check": "change", "function": "sum", "tolerance_pct": 5}],
                "checks[0].column: is required",
                id="change-column",
            ),
            pytest.param(
                [{"check": "change", "function": "count"}],
                "checks[0]: needs 'tolerance' (absolute) or 'tolerance_pct' (percent)",
                id="change-tolerance",
            ),
            pytest.param(
                [{"check": "sql", "sql": "SELECT 1", "op": "=", "value": 1, "parameters": {"a-b": 1}}],
                "checks[0].parameters.a-b: parameter names must be plain identifiers",
                id="parameter-name",
            ),
            pytest.param(
                [{"check": "row_count", "min": 10, "max": 5}],
                "checks[0]: 'min' (10) is greater than 'max' (5)",
                id="min-above-max",
            ),
            pytest.param(
                [{"check": "range", "column": "d", "min": "2024-01-01", "max": 5}],
                "checks[0]: 'min' ('2024-01-01') and 'max' (5) are not of the same kind",
                id="min-max-kinds",
            ),
            pytest.param(
                [{"check": "sql", "sql": "SELECT %(day)s", "op": "=", "value": 1}],
                "checks[0].sql: uses %(day)s but 'parameters' has no 'day'",
                id="undeclared-parameter",
            ),
            pytest.param(
                [{"check": "row_count", "min": 1, "name": ""}],
                "checks[0].name: must be a non-empty",
                id="name",
            ),
        ],
    )
    def test_problem_messages(self, spec, problem):
        with pytest.raises(SpecError) as error:
            parse_spec(spec, history=True)
        assert any(p.startswith(problem) for p in error.value.problems), error.value.problems
        assert problem in str(error.value)

    def test_all_problems_at_once(self):
        with pytest.raises(SpecError) as error:
            parse_spec([{"check": "x"}, {"check": "row_count"}, {"check": "unique", "column": "1a"}])
        assert len(error.value.problems) == 3
        assert str(error.value).startswith("data-quality spec has 3 problems:\n  - checks[0].check")

    def test_rendered_numbers_are_numbers(self):
        (check,) = parse_spec([{"check": "row_count", "min": "5", "max": " 7 "}])
        assert (check.params["min"], check.params["max"]) == (5, 7)
        (check,) = parse_spec([{"check": "not_null", "column": "a", "max_null_pct": "2.5"}])
        assert check.params["max_null_pct"] == 2.5
        with pytest.raises(SpecError, match="must be an integer, got 2.5"):
            parse_spec([{"check": "row_count", "min": "2.5"}])

    def test_mapping_with_checks_key(self):
        assert len(parse_spec({"checks": [{"check": "row_count", "min": 1}]})) == 1
        with pytest.raises(SpecError, match="table: unknown top-level key"):
            parse_spec({"checks": [{"check": "row_count", "min": 1}], "table": "x"})

    @pytest.mark.parametrize(
        ("value", "seconds"),
        [
            (60, 60.0),
            ("90m", 5400.0),
            ("1 day", 86400.0),
            ("36 hours", 129600.0),
            ("2w", 1209600.0),
            ("1.5h", 5400.0),
            (datetime.timedelta(minutes=2), 120.0),
            ("soon", None),
            (0, None),
            (True, None),
        ],
    )
    def test_parse_duration(self, value, seconds):
        assert parse_duration(value) == seconds

    def test_partition(self):
        assert parse_partition({"column": "ds", "value": "2024-01-01"}) == Partition("ds", "2024-01-01")
        assert parse_partition(None) is None
        with pytest.raises(SpecError) as error:
            parse_partition({"column": "d s", "value": None, "op": ">"})
        assert len(error.value.problems) == 3

    def test_load_yaml_text_and_errors(self, tmp_path):
        assert load_spec("- check: row_count\n  min: 1\n") == ([{"check": "row_count", "min": 1}], None)
        with pytest.raises(SpecError, match="does not exist"):
            load_spec(str(tmp_path / "missing.yaml"))
        with pytest.raises(SpecError, match=r"invalid YAML at line 3, column 6: expected ',' or ']'"):
            load_spec("- check: row_count\n  min: [1\n  max: }\n")


class TestSqlGuard:
    @pytest.mark.parametrize(
        "expression",
        [
            "amount >= 0",
            "note = 'drop; me -- not a comment'",
            '"select" > 0',
            "a IN (1, 2) AND (b OR c)",
            "CASE WHEN a > 0 THEN 1 ELSE 0 END = 1",
            "name LIKE 'it''s%'",
        ],
    )
    def test_accepted_fragments(self, expression):
        assert fragment_problems(expression) == []

    @pytest.mark.parametrize(
        ("expression", "problem"),
        [
            ("a > 0) OR (1 = 1", "closes a parenthesis it did not open"),
            ("(a > 0", "has an unclosed parenthesis"),
            ("a > 0; DROP TABLE x", "must be a single statement"),
            ("a > 0 -- and more", "must not contain SQL comments"),
            ("a > 0 /* x */", "must not contain SQL comments"),
            ("a = 'unterminated", "has an unterminated string"),
            ("a = $$x$$", "must not contain dollar-quoted strings"),
            ("a IN (SELECT id FROM t)", "without sub-queries"),
            ("a > 0;", "must be a condition, not a statement"),
        ],
    )
    def test_rejected_fragments(self, expression, problem):
        assert any(problem in p for p in fragment_problems(expression)), fragment_problems(expression)

    def test_select_queries(self):
        assert select_problems("SELECT count(*) FROM t WHERE d = %(ds)s;") == []
        assert select_problems("WITH x AS (SELECT 1 AS a) SELECT a FROM x") == []
        assert select_problems("select 'insert' AS word") == []
        assert "must be a read-only query (found DELETE)" in select_problems(
            "WITH d AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM d"
        )
        assert "must be a single SELECT (or WITH ... SELECT) query" in select_problems("VACUUM t")


def _plan(spec, partition=None):
    return compile_checks("t", parse_spec(spec, history=True), PostgresDialect(), partition)


class TestEvaluate:
    def test_scan_values(self):
        plan = _plan(
            [
                {"check": "row_count", "min": 1, "max": 100},
                {"check": "not_null", "column": "a", "max_null_pct": 10},
                {"check": "range", "column": "d", "min": "2024-01-01", "max": "2024-12-31"},
                {"check": "range", "column": "amount", "min": 0, "severity": "warn"},
            ]
        )
        # aliases: count(*), count(a), min(d), max(d), min(amount)
        row = [50, 44, datetime.date(2024, 1, 1), datetime.date(2025, 1, 1), decimal.Decimal("-0.50")]
        results = evaluate(plan, row, {})
        assert [(r.name, r.status) for r in results] == [
            ("row_count", "passed"),
            ("not_null_a", "failed"),
            ("range_d", "failed"),
            ("range_amount", "warned"),
        ]
        assert results[1].observed == {"nulls": 6, "null_pct": 12.0}
        assert results[2].observed == {"min": "2024-01-01", "max": "2025-01-01"}
        assert results[3].observed == -0.5
        assert results[1].expected == "<= 10% nulls"

    def test_empty_table_passes_ranges_but_not_freshness(self):
        plan = _plan(
            [
                {"check": "range", "column": "x", "min": 0},
                {"check": "freshness", "column": "t", "max_age": 60},
            ]
        )
        results = evaluate(plan, [None, None, None], {})
        assert [r.passed for r in results] == [True, False]

    def test_reconcile_tolerances(self):
        spec = {"check": "reconcile", "column": "amount", "against": {"table": "s"}}
        for extra, passed in [
            ({}, False),
            ({"tolerance": 5}, True),
            ({"tolerance_pct": 4}, False),
            ({"tolerance_pct": 5}, True),
            ({"tolerance": 5, "tolerance_pct": 1}, False),
        ]:
            plan = _plan([{**spec, **extra}])
            (result,) = evaluate(
                plan, [decimal.Decimal("105")], {"reconcile_sum_amount": decimal.Decimal("100")}
            )
            assert result.passed is passed, extra
        (result,) = evaluate(_plan([spec]), [None], {"reconcile_sum_amount": None})
        assert result.passed and result.observed == {"value": 0, "against": 0, "difference": 0}

    def test_change(self):
        plan = _plan(
            [{"check": "change", "function": "count", "tolerance_pct": 10, "lookback": 3, "min_history": 2}]
        )
        (too_little,) = evaluate(plan, [500], {}, baselines={"change_count": [100.0]})
        assert too_little.passed and too_little.observed == {"value": 500.0, "baseline": None, "runs": 1}
        (result,) = evaluate(plan, [108], {}, baselines={"change_count": [100.0, 100.0, 100.0, 1.0]})
        assert result.passed and result.observed["baseline"] == 100.0 and result.observed["runs"] == 3
        (result,) = evaluate(plan, [111], {}, baselines={"change_count": [100.0, 100.0, 100.0]})
        assert not result.passed and result.observed["change_pct"] == 11.0

    def test_sql_comparators_and_errors(self):
        plan = _plan(
            [
                {"check": "sql", "sql": "SELECT 1", "op": ">=", "value": 10, "name": "a"},
                {"check": "sql", "sql": "SELECT 1", "op": "=", "value": "2024-03-01", "name": "b"},
                {"check": "sql", "sql": "SELECT 1", "op": "<", "value": 1, "name": "c"},
            ]
        )
        results = evaluate(
            plan, None, {"a": decimal.Decimal("10.0"), "b": datetime.date(2024, 3, 1)}, errors={"c": "boom"}
        )
        assert [r.passed for r in results] == [True, True, False]
        assert results[2].observed == {"error": "boom"} and results[2].expected == "query succeeds"


def test_summary_table_and_message():
    plan = _plan(
        [
            {"check": "row_count", "min": 1},
            {"check": "not_null", "column": "a", "severity": "warn"},
            {"check": "unique", "column": "id"},
        ],
        Partition("ds", datetime.date(2024, 3, 1)),
    )
    results = evaluate(plan, [10, 9], {"unique_id": 2})
    summary = summarize("mart.sales", Partition("ds", datetime.date(2024, 3, 1)), results)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["partition"] == {"column": "ds", "value": "2024-03-01"}
    assert summary["summary"] == {"total": 3, "passed": 1, "failed": 1, "warned": 1}
    assert summary["passed"] is False
    table = format_table(results).splitlines()
    assert table[0].split() == ["status", "name", "check", "column", "observed", "expected"]
    assert table[2].split()[:4] == ["PASSED", "row_count", "row_count", "10"]
    assert table[4].startswith("FAILED  unique_id")
    assert failure_message(summary) == (
        "1 of 3 data-quality checks failed on mart.sales (ds = 2024-03-01):\n"
        "- unique_id [unique on id]: observed 2, expected <= 0 duplicate rows on (id)"
    )


def test_json_safe():
    assert json_safe(decimal.Decimal("2.50")) == 2.5
    assert json_safe(decimal.Decimal("3.00")) == 3
    assert json_safe(float("nan")) == "nan"
    assert json_safe(datetime.datetime(2024, 1, 1, 12)) == "2024-01-01T12:00:00"
    assert json_safe({"a": (1, decimal.Decimal("1"))}) == {"a": [1, 1]}
    assert len(json_safe("x" * 1000)) == 200
