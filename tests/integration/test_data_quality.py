"""DataQualityOperator against the sandbox PostgreSQL: each check type, history, injection, one scan."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from airflow_sales_provider.compat import AirflowException, AirflowFailException
from airflow_sales_provider.operators.data_quality import DataQualityOperator

pytestmark = pytest.mark.integration

TODAY = datetime.date(2024, 3, 2)
YESTERDAY = datetime.date(2024, 3, 1)


class TaskInstanceRecorder:
    """Records ``xcom_push`` calls (the real-XCom path is covered by the DAG-run test)."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # the contract: JSON-serialisable
        self.xcom[key] = value


@pytest.fixture
def sales(warehouse):
    """``dq.sales``: 10 clean rows yesterday, 10 rows today with planted problems; ``dq.customers``."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with warehouse.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS dq CASCADE")
        cur.execute("CREATE SCHEMA dq")
        cur.execute("CREATE TABLE dq.customers (id integer PRIMARY KEY, name text)")
        cur.execute("INSERT INTO dq.customers SELECT g, 'c' || g FROM generate_series(1, 5) g")
        cur.execute(
            "CREATE TABLE dq.sales (order_id integer, line_no integer, customer_id integer, "
            "category text, quantity integer, amount numeric(12, 2), sold_at timestamp, sale_date date)"
        )
        rows = []
        for i in range(1, 11):  # yesterday: clean
            rows.append(
                (i, 1, 1 + i % 5, "food", 1 + i % 3, 10 * i, now - datetime.timedelta(days=1), YESTERDAY)
            )
        for i in range(11, 21):  # today: problems
            rows.append((i, 1, 1 + i % 5, "toys", 2, 5 * i, now - datetime.timedelta(hours=2), TODAY))
        two_hours_ago = now - datetime.timedelta(hours=2)
        rows[-1] = (
            19,
            1,
            None,
            "weapons",
            500,
            -3,
            two_hours_ago,
            TODAY,
        )  # dup order 19, null, bad value, range
        rows[-2] = (19, 1, 99, "toys", 2, 90, two_hours_ago, TODAY)  # orphan customer 99
        cur.executemany("INSERT INTO dq.sales VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
        cur.execute("CREATE TABLE dq.staging (amount numeric(12, 2), sale_date date)")
        cur.execute("INSERT INTO dq.staging SELECT amount, sale_date FROM dq.sales")
    yield warehouse
    with warehouse.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS dq CASCADE")


def run_checks(checks: Any, *, run_id: str = "manual__1", **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """Execute the operator; return (returned dict or raised exception, what it pushed to XCom)."""
    kwargs.setdefault("table", "dq.sales")
    operator = DataQualityOperator(task_id="dq", checks=checks, **kwargs)
    ti = TaskInstanceRecorder()
    try:
        outcome: Any = operator.execute({"ti": ti, "run_id": run_id})
    except (AirflowException, AirflowFailException) as exc:
        outcome = exc
    return outcome, ti.xcom.get("data_quality", {})


class _SpyCursor:
    def __init__(self, cursor: Any, statements: list[str]) -> None:
        self._cursor, self._statements = cursor, statements

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self._statements.append(sql)
        return self._cursor.execute(sql) if parameters is None else self._cursor.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _SpyConnection:
    def __init__(self, connection: Any, statements: list[str]) -> None:
        object.__setattr__(self, "_connection", connection)
        object.__setattr__(self, "_statements", statements)

    def cursor(self, *args: Any, **kwargs: Any) -> _SpyCursor:
        return _SpyCursor(self._connection.cursor(*args, **kwargs), self._statements)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._connection, name, value)


def record_statements(operator: DataQualityOperator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the database receives through the operator's real hook and connection."""
    statements: list[str] = []
    real_get_conn = operator.hook.get_conn
    monkeypatch.setattr(operator.hook, "get_conn", lambda: _SpyConnection(real_get_conn(), statements))
    return statements


def count_connections(operator: DataQualityOperator, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the operator opens (wraps whatever ``get_conn`` already is)."""
    opened: list[Any] = []
    get_conn = operator.hook.get_conn

    def counting_get_conn() -> Any:
        opened.append(get_conn())
        return opened[-1]

    monkeypatch.setattr(operator.hook, "get_conn", counting_get_conn)
    return opened


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in results["checks"]}


YESTERDAY_PARTITION = {"column": "sale_date", "value": YESTERDAY.isoformat()}
TODAY_PARTITION = {"column": "sale_date", "value": TODAY.isoformat()}

# (check, passes on yesterday's clean partition, fails on today's partition)
CASES = [
    pytest.param(
        {"check": "row_count", "min": 10, "max": 10}, {"check": "row_count", "min": 11}, id="row_count"
    ),
    pytest.param(
        {"check": "not_null", "column": "customer_id"},
        {"check": "not_null", "column": "customer_id"},
        id="not_null",
    ),
    pytest.param(
        {"check": "not_null", "column": "customer_id", "max_null_pct": 0},
        {"check": "not_null", "column": "customer_id", "max_null_pct": 5},
        id="not_null_pct",
    ),
    pytest.param(
        {"check": "unique", "column": "order_id"}, {"check": "unique", "column": "order_id"}, id="unique"
    ),
    pytest.param(
        {"check": "accepted_values", "column": "category", "values": ["food", "toys"]},
        {"check": "accepted_values", "column": "category", "values": ["food", "toys"]},
        id="accepted_values",
    ),
    pytest.param(
        {"check": "range", "column": "quantity", "min": 1, "max": 100},
        {"check": "range", "column": "quantity", "min": 1, "max": 100},
        id="range",
    ),
    pytest.param(
        {"check": "range", "column": "sale_date", "min": "2024-03-01", "max": "2024-03-01"},
        {"check": "range", "column": "sale_date", "max": "2024-03-01"},
        id="range_dates",
    ),
    pytest.param(
        {"check": "distinct_count", "column": "category", "max": 1},
        {"check": "distinct_count", "column": "category", "max": 1},
        id="distinct_count",
    ),
    pytest.param(
        {"check": "freshness", "column": "sold_at", "max_age": "36 hours"},
        {"check": "freshness", "column": "sold_at", "max_age": 60},
        id="freshness",
    ),
    pytest.param(
        {"check": "relationships", "column": "customer_id", "to": "dq.customers", "field": "id"},
        {"check": "relationships", "column": "customer_id", "to": "dq.customers", "field": "id"},
        id="relationships",
    ),
    pytest.param(
        {"check": "expression", "expression": "amount >= 0 AND quantity * 1 <= 100"},
        {"check": "expression", "expression": "amount >= 0 AND quantity * 1 <= 100"},
        id="expression",
    ),
    pytest.param(
        {
            "check": "sql",
            "sql": "SELECT max(amount) FROM dq.sales WHERE sale_date = %(partition_value)s",
            "op": "=",
            "value": 100,
        },
        {
            "check": "sql",
            "sql": "SELECT count(*) FROM dq.sales WHERE category LIKE 'w%'",
            "op": "=",
            "value": 0,
        },
        id="sql",
    ),
    pytest.param(
        {
            "check": "reconcile",
            "column": "amount",
            "against": {"table": "dq.staging", "column": "amount", "partition_column": "sale_date"},
        },
        {
            "check": "reconcile",
            "column": "amount",
            "against": {"sql": "SELECT sum(amount) + 50 FROM dq.staging"},
            "tolerance_pct": 1,
        },
        id="reconcile",
    ),
]


class TestEachCheckType:
    @pytest.mark.parametrize(("passing", "failing"), CASES)
    def test_passes_fails_and_warns(self, sales, passing, failing):
        outcome, pushed = run_checks([passing], partition=YESTERDAY_PARTITION)
        assert isinstance(outcome, dict), outcome
        assert outcome == pushed
        assert outcome["passed"] and outcome["checks"][0]["status"] == "passed", outcome

        outcome, pushed = run_checks([failing], partition=TODAY_PARTITION)
        assert isinstance(outcome, AirflowException), outcome
        assert not isinstance(outcome, AirflowFailException)  # a data failure may be retried
        (result,) = pushed["checks"]
        assert result["status"] == "failed" and not result["passed"], result
        assert result["name"] in str(outcome) and f"expected {result['expected']}" in str(outcome)
        assert pushed["summary"] == {"total": 1, "passed": 0, "failed": 1, "warned": 0}

        outcome, pushed = run_checks([{**failing, "severity": "warn"}], partition=TODAY_PARTITION)
        assert isinstance(outcome, dict), outcome
        assert outcome["passed"] and outcome["checks"][0]["status"] == "warned"
        assert outcome["summary"] == {"total": 1, "passed": 0, "failed": 0, "warned": 1}


class TestResults:
    def test_observed_values_and_contract(self, sales, caplog):
        checks = [
            {"check": "row_count", "min": 1},
            {"check": "not_null", "columns": ["customer_id", "category"], "severity": "warn"},
            {"check": "unique", "column": "order_id", "name": "order_ids_unique"},
            {"check": "range", "column": "amount", "min": 0},
            {"check": "relationships", "column": "customer_id", "to": "dq.customers", "field": "id"},
        ]
        outcome, pushed = run_checks(checks, partition=TODAY_PARTITION)
        assert isinstance(outcome, AirflowException)
        assert pushed["table"] == "dq.sales"
        assert pushed["partition"] == {"column": "sale_date", "value": "2024-03-02"}
        assert pushed["passed"] is False
        assert pushed["summary"] == {"total": 6, "passed": 2, "failed": 3, "warned": 1}
        results = by_name(pushed)
        assert set(results) == {
            "row_count",
            "not_null_customer_id",
            "not_null_category",
            "order_ids_unique",
            "range_amount",
            "relationships_customer_id",
        }
        assert results["row_count"]["observed"] == 10
        assert results["not_null_customer_id"] | {"expected": None} == {
            "name": "not_null_customer_id",
            "check": "not_null",
            "column": "customer_id",
            "observed": 1,
            "expected": None,
            "passed": False,
            "severity": "warn",
            "status": "warned",
        }
        assert results["order_ids_unique"]["observed"] == 1
        assert results["range_amount"]["observed"] == -3
        assert results["relationships_customer_id"]["observed"] == 1
        message = str(outcome)
        assert "3 of 6 data-quality checks failed on dq.sales (sale_date = 2024-03-02)" in message
        for name in ("order_ids_unique", "range_amount", "relationships_customer_id"):
            assert name in message
        assert "not_null_customer_id" not in message  # a warning, not a failure
        assert len(json.dumps(pushed)) < 4000

    def test_whole_table_without_partition(self, sales):
        outcome, _ = run_checks([{"check": "row_count", "min": 20, "max": 20}])
        assert outcome["checks"][0]["observed"] == 20

    def test_composite_unique(self, sales, warehouse):
        with warehouse.cursor() as cur:
            cur.execute("UPDATE dq.sales SET line_no = 2 WHERE order_id = 19 AND amount < 0")
        outcome, _ = run_checks([{"check": "unique", "columns": ["order_id", "line_no"]}])
        assert outcome["passed"], outcome
        assert outcome["checks"][0]["column"] == "order_id, line_no"
        outcome, pushed = run_checks([{"check": "unique", "columns": ["order_id"]}])
        assert pushed["checks"][0]["observed"] == 1
        with warehouse.cursor() as cur:
            cur.execute(
                "INSERT INTO dq.sales (order_id, line_no, sale_date) VALUES (1, 1, %s), (1, 1, %s)",
                (TODAY, TODAY),
            )
        outcome, pushed = run_checks([{"check": "unique", "columns": ["order_id", "line_no"]}])
        assert isinstance(outcome, AirflowException)
        assert pushed["checks"][0]["observed"] == 2  # three rows share (1, 1): two are duplicates
        outcome, pushed = run_checks(
            [{"check": "unique", "columns": ["order_id", "line_no"]}], partition=YESTERDAY_PARTITION
        )
        assert pushed["passed"], "the partition filter applies to the uniqueness query too"

    def test_reconcile_within_and_outside_tolerance(self, sales, warehouse):
        with warehouse.cursor() as cur:  # staging is 10.00 higher than sales on yesterday's 550.00
            cur.execute("UPDATE dq.staging SET amount = amount + 10 WHERE amount = 100")
        spec = {
            "check": "reconcile",
            "function": "sum",
            "column": "amount",
            "against": {"table": "dq.staging", "column": "amount", "partition_column": "sale_date"},
        }
        within, _ = run_checks([{**spec, "tolerance_pct": 2}], partition=YESTERDAY_PARTITION)
        assert within["passed"]
        assert within["checks"][0]["observed"] == {"value": 550, "against": 560, "difference": 10}
        outside, pushed = run_checks([{**spec, "tolerance": 5}], partition=YESTERDAY_PARTITION)
        assert isinstance(outside, AirflowException)
        assert pushed["checks"][0]["observed"]["difference"] == 10
        absolute, _ = run_checks([{**spec, "tolerance": 10}], partition=YESTERDAY_PARTITION)
        assert absolute["passed"]
        counts, _ = run_checks(
            [
                {
                    "check": "reconcile",
                    "function": "count",
                    "against": {"table": "dq.customers", "function": "count"},
                }
            ],
            partition=YESTERDAY_PARTITION,
        )
        assert isinstance(counts, AirflowException)  # 10 sales rows vs 5 customers, no tolerance


class TestHistoryAndChange:
    SPEC = [
        {"check": "row_count", "min": 1},
        {"check": "change", "function": "sum", "column": "amount", "lookback": 5, "tolerance_pct": 20},
    ]

    def set_day(self, warehouse, day: datetime.date, amount: float) -> None:
        with warehouse.cursor() as cur:
            cur.execute("DELETE FROM dq.sales WHERE sale_date = %s", (day,))
            cur.execute(
                "INSERT INTO dq.sales (order_id, amount, sale_date) VALUES (1, %s, %s)", (amount, day)
            )

    def test_change_against_five_recorded_runs(self, sales, warehouse):
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS dq.dq_history")
        days = [datetime.date(2024, 4, d) for d in range(1, 9)]
        amounts = [100, 104, 96, 100, 100]
        for day, amount in zip(days, amounts, strict=False):
            self.set_day(warehouse, day, amount)
            outcome, _ = run_checks(
                self.SPEC,
                run_id=f"scheduled__{day}",
                partition={"column": "sale_date", "value": day.isoformat()},
                history="dq.dq_history",
            )
            assert outcome["passed"], outcome
        first = by_name(outcome)["change_sum_amount"]["observed"]
        assert first["runs"] == 4 and first["baseline"] == 100

        with warehouse.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT run_id) FROM dq.dq_history")
            assert cur.fetchone() == (10, 5)

        # Day 6: 150 is 50 % off the mean of the last five (100): fails; recorded as not passed.
        self.set_day(warehouse, days[5], 150)
        kwargs = {
            "partition": {"column": "sale_date", "value": days[5].isoformat()},
            "history": "dq.dq_history",
        }
        outcome, pushed = run_checks(self.SPEC, run_id="scheduled__6", **kwargs)
        assert isinstance(outcome, AirflowException)
        change = by_name(pushed)["change_sum_amount"]
        assert change["observed"] == {"value": 150.0, "baseline": 100.0, "runs": 5, "change_pct": 50.0}
        assert "change_sum_amount" in str(outcome)

        # A retry of the same run replaces its rows instead of adding more.
        outcome, _ = run_checks(self.SPEC, run_id="scheduled__6", **kwargs)
        with warehouse.cursor() as cur:
            cur.execute("SELECT count(*) FROM dq.dq_history WHERE run_id = 'scheduled__6'")
            assert cur.fetchone() == (2,)
            cur.execute(
                "SELECT check_name, value, passed, partition_value, dag_id, table_name FROM dq.dq_history "
                "WHERE run_id = 'scheduled__6' ORDER BY check_name"
            )
            rows = cur.fetchall()
        assert rows[0][:4] == ("change_sum_amount", 150.0, False, "2024-04-06")
        assert rows[0][5] == "dq.sales"

        # Day 7: back to normal. The failed day 6 is not part of the baseline.
        self.set_day(warehouse, days[6], 110)
        outcome, _ = run_checks(
            self.SPEC,
            run_id="scheduled__7",
            partition={"column": "sale_date", "value": days[6].isoformat()},
            history="dq.dq_history",
        )
        assert outcome["passed"], outcome
        assert by_name(outcome)["change_sum_amount"]["observed"]["baseline"] == 100.0

    def test_history_true_uses_default_table(self, sales, warehouse):
        with warehouse.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS public.data_quality_history")
        outcome, _ = run_checks([{"check": "row_count", "min": 1}], history=True)
        assert outcome["passed"]
        with warehouse.cursor() as cur:
            cur.execute("SELECT check_name, value, passed FROM public.data_quality_history")
            assert cur.fetchall() == [("row_count", 20.0, True)]
            cur.execute("DROP TABLE public.data_quality_history")


class TestOneScan:
    @pytest.mark.parametrize("concurrent", [True, False], ids=["own-queries-beside-the-scan", "sequential"])
    def test_shared_checks_cost_one_query_and_others_one_each(self, sales, monkeypatch, concurrent):
        operator = DataQualityOperator(
            task_id="dq",
            table="dq.sales",
            partition=TODAY_PARTITION,
            concurrent_queries=concurrent,
            checks=[
                {"check": "row_count", "min": 1},
                {"check": "not_null", "columns": ["order_id", "category", "amount"]},
                {"check": "accepted_values", "column": "category", "values": ["toys", "food", "weapons"]},
                {"check": "range", "columns": ["quantity", "amount"], "min": -10, "max": 1000},
                {"check": "freshness", "column": "sold_at", "max_age": "1 day"},
                {"check": "expression", "expression": "quantity <= 1000"},
                {"check": "distinct_count", "column": "category", "min": 2, "max": 2},
                {"check": "change", "function": "count", "tolerance_pct": 100, "severity": "warn"},
                {"check": "unique", "column": "order_id", "severity": "warn"},
                {
                    "check": "relationships",
                    "column": "customer_id",
                    "to": "dq.customers",
                    "field": "id",
                    "severity": "warn",
                },
            ],
            history="dq.scan_history",
        )
        statements = record_statements(operator, monkeypatch)
        connections = count_connections(operator, monkeypatch)
        outcome = operator.execute({"ti": TaskInstanceRecorder(), "run_id": "scan"})
        # reads share one connection, the own queries get a second one when they run beside the scan,
        # and the history rows are written on their own
        assert len(connections) == (3 if concurrent else 2)
        assert outcome["summary"]["total"] == 13
        assert outcome["passed"] and by_name(outcome)["distinct_count_category"]["observed"] == 2
        assert by_name(outcome)["row_count"]["observed"] == 10
        on_sales = [s for s in statements if '"dq"."sales"' in s]
        assert len(on_sales) == 2, on_sales  # the shared scan (with the relationship) + unique
        (scan,) = [s for s in on_sales if 'GROUP BY "category"' in s]
        assert scan.count('FROM "dq"."sales"') == 1
        assert 'LEFT JOIN (SELECT DISTINCT "id" AS "dq_parent_key" FROM "dq"."customers")' in scan
        if not concurrent:
            assert on_sales[0] == scan
        # around them: the history table (create if missing, read the baseline, replace this run's rows)
        # and one catalog lookup for enforced unique keys
        others = [
            s.split()[0] + (" pg_index" if "pg_index" in s else "") for s in statements if s not in on_sales
        ]
        assert others == ["CREATE", "SELECT", "SELECT pg_index", "DELETE", "INSERT"], others
        assert all("scan_history" in s for s in statements if s not in on_sales and "pg_index" not in s)

    def test_a_second_connection_only_for_a_sort_beside_the_scan(self, sales, monkeypatch):
        spec = [
            {"check": "row_count", "min": 1},
            {"check": "relationships", "column": "customer_id", "to": "dq.customers", "field": "id"},
            {"check": "sql", "sql": "SELECT count(*) FROM dq.customers", "op": ">", "value": 0},
        ]
        operator = DataQualityOperator(
            task_id="dq", table="dq.sales", partition=YESTERDAY_PARTITION, checks=spec
        )
        connections = count_connections(operator, monkeypatch)
        assert operator.execute({"run_id": "no-sort"})["passed"]
        assert len(connections) == 1  # no sort: the custom query follows the scan on its connection

        spec.append({"check": "unique", "column": "order_id", "severity": "warn"})
        operator = DataQualityOperator(
            task_id="dq", table="dq.sales", partition=YESTERDAY_PARTITION, checks=spec
        )
        connections = count_connections(operator, monkeypatch)
        outcome = operator.execute({"run_id": "sort"})
        assert len(connections) == 2 and outcome["summary"]["total"] == 4

    def test_composite_key_is_proved_unique_by_one_hash_and_counted_exactly_otherwise(
        self, sales, warehouse, monkeypatch
    ):
        with warehouse.cursor() as cur:  # the fixture's one duplicate key made unique
            cur.execute("UPDATE dq.sales SET line_no = 2 WHERE order_id = 19 AND amount < 0")
        spec = [{"check": "unique", "columns": ["order_id", "line_no"]}]
        operator = DataQualityOperator(task_id="dq", table="dq.sales", checks=spec)
        statements = record_statements(operator, monkeypatch)
        assert operator.execute({"run_id": "clean"})["passed"]
        counted = [s for s in statements if '"dq"."sales"' in s]
        assert len(counted) == 1 and "hash_record_extended" in counted[0], counted  # no GROUP BY

        with warehouse.cursor() as cur:  # three rows share (1, 1): two are duplicates
            cur.execute(
                "INSERT INTO dq.sales (order_id, line_no, sale_date) VALUES (1, 1, %s), (1, 1, %s)",
                (TODAY, TODAY),
            )
        operator = DataQualityOperator(task_id="dq", table="dq.sales", checks=spec)
        statements = record_statements(operator, monkeypatch)
        ti = TaskInstanceRecorder()
        with pytest.raises(AirflowException):
            operator.execute({"ti": ti, "run_id": "duplicates"})
        assert ti.xcom["data_quality"]["checks"][0]["observed"] == 2  # the exact count, not the hash's
        counted = [s for s in statements if '"dq"."sales"' in s]
        assert ["hash_record_extended" in s for s in counted] == [True, False], counted
        assert 'GROUP BY "order_id", "line_no" HAVING count(*) > 1' in counted[1]

    def test_key_without_a_hash_function_is_counted_exactly(self, sales, warehouse):
        with warehouse.cursor() as cur:  # money has equality but no extended hash function
            cur.execute("CREATE TABLE dq.fees (id integer, fee money)")
            cur.execute("INSERT INTO dq.fees VALUES (1, 1), (1, 2), (2, 1), (2, 1), (2, 1), (3, NULL)")
        outcome, pushed = run_checks([{"check": "unique", "columns": ["id", "fee"]}], table="dq.fees")
        assert isinstance(outcome, AirflowException)
        assert pushed["checks"][0]["observed"] == 2

    def test_unique_key_enforced_by_the_database_is_not_counted(self, sales, warehouse, monkeypatch):
        with warehouse.cursor() as cur:
            cur.execute("CREATE TABLE dq.orders (id integer PRIMARY KEY, line integer, code text, ref text)")
            cur.execute("CREATE UNIQUE INDEX orders_code ON dq.orders (code) WHERE code <> 'x'")  # partial
            cur.execute("CREATE UNIQUE INDEX orders_ref ON dq.orders (lower(ref))")  # an expression
            cur.execute("INSERT INTO dq.orders VALUES (1, 1, 'x', 'a'), (2, 1, 'x', 'b')")
        operator = DataQualityOperator(
            task_id="dq",
            table="dq.orders",
            checks=[
                {"check": "unique", "column": "id"},
                {"check": "unique", "columns": ["line", "id"]},
                {"check": "unique", "column": "code"},
                {"check": "unique", "column": "ref"},
            ],
        )
        statements = record_statements(operator, monkeypatch)
        ti = TaskInstanceRecorder()
        with pytest.raises(AirflowException):
            operator.execute({"ti": ti, "run_id": "keys"})
        pushed = ti.xcom["data_quality"]
        assert [(c["name"], c["observed"]) for c in pushed["checks"]] == [
            ("unique_id", 0),
            ("unique_line_id", 0),
            ("unique_code", 1),  # the partial index does not cover 'x': counted, and duplicated
            ("unique_ref", 0),  # counted: the expression index is not on the column itself
        ]
        assert "pg_index" in statements[0]
        counted = [s for s in statements if "count(DISTINCT" in s]
        assert len(statements) == 3 and len(counted) == 2, statements  # id and (line, id) are not counted


class TestValidation:
    def test_every_problem_listed_with_its_path_before_any_query(self, sales, monkeypatch):
        operator = DataQualityOperator(
            task_id="dq",
            table="dq.sales",
            checks=[
                {"check": "row_count"},
                {"check": "not_nul", "column": "a"},
                {"check": "unique", "columns": ["order_id", "bad name"]},
                {"check": "range", "column": "amount", "min": [1]},
                {"check": "freshness", "column": "sold_at", "max_age": "soon"},
                {"check": "accepted_values", "column": "category", "values": [], "severity": "error"},
                {"check": "change", "tolerance_pct": 5},
                {"check": "expression", "expression": "x > 0", "maxx": 1},
            ],
            partition={"column": "sale date", "value": "2024-01-01"},
        )
        monkeypatch.setattr(
            DataQualityOperator, "hook", property(lambda self: pytest.fail("no query expected"))
        )
        with pytest.raises(AirflowFailException) as error:
            operator.execute({"run_id": "x"})
        message = str(error.value)
        for expected in [
            "partition.column: partition column 'sale date' is not a valid SQL identifier",
            "checks[0]: needs 'min' and/or 'max'",
            "checks[1].check: unknown check type 'not_nul'",
            "checks[2].columns[1]: column 'bad name' is not a valid SQL identifier",
            "checks[3].min: must be a number, string or date, got [1]",
            "checks[4].max_age: must be positive seconds or e.g. '36 hours', '1 day', got 'soon'",
            "checks[5].values: must be a non-empty list",
            "checks[5].severity: must be 'fail' or 'warn', got 'error'",
            "checks[6]: a change check needs history",
            "checks[7].maxx: unknown field for check type 'expression'",
        ]:
            assert expected in message, message
        assert "has 10 problems" in message

    def test_duplicate_names(self, sales):
        outcome, pushed = run_checks([{"check": "row_count", "min": 1}, {"check": "row_count", "max": 5}])
        assert isinstance(outcome, AirflowFailException)
        assert "checks[1].name: check name 'row_count' is also used by checks[0]" in str(outcome)
        assert pushed == {}

    def test_yaml_file_spec(self, sales, tmp_path):
        spec = tmp_path / "sales_checks.yaml"
        spec.write_text(
            "checks:\n"
            "  - check: row_count\n    min: 1\n"
            "  - check: accepted_values\n    column: category\n    values: [food, toys, weapons]\n"
        )
        outcome, _ = run_checks(str(spec))
        assert outcome["passed"] and outcome["summary"]["total"] == 2

    def test_yaml_error_has_line_and_column(self, sales, tmp_path):
        spec = tmp_path / "broken.yaml"
        spec.write_text("- check: row_count\n  min: [1\n")
        outcome, _ = run_checks(str(spec))
        assert isinstance(outcome, AirflowFailException)
        assert "broken.yaml" in str(outcome) and "invalid YAML at line 3" in str(outcome)


class TestInjection:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            pytest.param(
                {"table": "sales; DROP TABLE dq.customers"},
                "table: table schema 'sales; DROP TABLE dq' is not a valid SQL identifier",
                id="table",
            ),
            pytest.param({"table": 'dq."sales"'}, "is not a valid SQL identifier", id="quoted-table"),
            pytest.param(
                {"checks": [{"check": "not_null", "column": "x) FROM dq.customers; --"}]},
                "checks[0].column: column 'x) FROM dq.customers; --' is not a valid SQL identifier",
                id="column",
            ),
            pytest.param(
                {
                    "checks": [
                        {
                            "check": "expression",
                            "expression": "1=1) THEN 1 END) FROM dq.customers; DROP TABLE dq.customers; --",
                        }
                    ]
                },
                "checks[0].expression: closes a parenthesis it did not open",
                id="expression-breakout",
            ),
            pytest.param(
                {"checks": [{"check": "expression", "expression": "amount > 0 OR (SELECT 1) = 1"}]},
                "without sub-queries",
                id="expression-subquery",
            ),
            pytest.param(
                {
                    "checks": [
                        {"check": "sql", "sql": "DELETE FROM dq.customers RETURNING 1", "op": "=", "value": 1}
                    ]
                },
                "checks[0].sql: must be a single SELECT",
                id="sql-delete",
            ),
            pytest.param(
                {
                    "checks": [
                        {"check": "sql", "sql": "SELECT 1; DROP TABLE dq.customers", "op": "=", "value": 1}
                    ]
                },
                "must be a single statement",
                id="sql-two-statements",
            ),
            pytest.param(
                {"checks": [{"check": "sql", "sql": "SELECT 1 INTO dq.result", "op": "=", "value": 1}]},
                "must be a read-only query (found INTO)",
                id="sql-select-into",
            ),
            pytest.param(
                {
                    "checks": [
                        {
                            "check": "relationships",
                            "column": "customer_id",
                            "to": "dq.customers; DROP",
                            "field": "id",
                        }
                    ]
                },
                "checks[0].to: to 'customers; DROP' is not a valid SQL identifier",
                id="relationships-table",
            ),
            pytest.param({"history": "h; DROP TABLE dq.customers"}, "history: history table", id="history"),
        ],
    )
    def test_rejected_before_any_query(self, sales, warehouse, kwargs, expected):
        kwargs.setdefault("checks", [{"check": "row_count", "min": 1}])
        outcome, pushed = run_checks(**kwargs)
        assert isinstance(outcome, AirflowFailException), outcome
        assert expected in str(outcome), str(outcome)
        assert pushed == {}
        with warehouse.cursor() as cur:
            cur.execute("SELECT count(*) FROM dq.customers")
            assert cur.fetchone() == (5,)

    def test_injection_through_templates(self, sales, warehouse):
        operator = DataQualityOperator(
            task_id="dq",
            table="{{ params.table }}",
            checks=[{"check": "row_count", "max": "{{ params.max }}"}],
            partition={"column": "category", "value": "{{ params.category }}"},
        )
        operator.render_template_fields(
            {"params": {"table": "dq.sales", "max": 0, "category": "food' OR '1'='1"}}
        )
        outcome = operator.execute({"ti": TaskInstanceRecorder(), "run_id": "t"})
        assert outcome["passed"] and outcome["checks"][0]["observed"] == 0
        assert outcome["partition"]["value"] == "food' OR '1'='1"

        operator = DataQualityOperator(
            task_id="dq",
            table="{{ params.table }}",
            checks=[{"check": "not_null", "column": "{{ params.column }}"}],
        )
        operator.render_template_fields(
            {"params": {"table": "dq.sales WHERE 1=0; DROP TABLE dq.customers; --", "column": 'a"b'}}
        )
        with pytest.raises(AirflowFailException) as error:
            operator.execute({"ti": TaskInstanceRecorder(), "run_id": "t"})
        assert "table: table 'dq.sales WHERE 1=0; DROP TABLE dq.customers; --' must be" in str(error.value)
        assert """checks[0].column: column 'a"b' is not a valid SQL identifier""" in str(error.value)
        with warehouse.cursor() as cur:
            cur.execute("SELECT count(*) FROM dq.customers")
            assert cur.fetchone() == (5,)

    def test_partition_value_is_bound_not_spliced(self, sales, warehouse):
        evil = "2024-03-01' OR '1'='1"
        outcome, _ = run_checks(
            [{"check": "row_count", "max": 0}], partition={"column": "category", "value": evil}
        )
        assert outcome["passed"] and outcome["checks"][0]["observed"] == 0
        outcome, pushed = run_checks(
            [{"check": "accepted_values", "column": "category", "values": ["food') OR ('1'='1", "toys"]}]
        )
        assert pushed["checks"][0]["observed"] == 11  # ten 'food' rows and one 'weapons' row are outside

    def test_percent_signs_in_user_sql(self, sales):
        outcome, _ = run_checks(
            [
                {"check": "expression", "expression": "category NOT LIKE 'w%' OR quantity % 2 = 0"},
                {
                    "check": "sql",
                    "sql": "SELECT count(*) FROM dq.sales WHERE category LIKE '%ood'",
                    "op": "=",
                    "value": 10,
                },
            ],
            partition=YESTERDAY_PARTITION,
        )
        assert outcome["passed"], outcome


def test_failing_query_fails_its_check_only(sales):
    outcome, pushed = run_checks(
        [
            {"check": "row_count", "min": 1},
            {
                "check": "relationships",
                "column": "customer_id",
                "to": "dq.missing",
                "field": "id",
                "severity": "warn",
            },
        ]
    )
    assert outcome["passed"]
    results = by_name(pushed)
    # the scan that joined dq.missing failed; run again with the relationship on its own, the error is its
    assert results["relationships_customer_id"]["status"] == "warned"
    assert "does not exist" in results["relationships_customer_id"]["observed"]["error"]
    assert results["row_count"]["status"] == "passed"


class TestFailurePaths:
    def test_connection_without_a_sql_hook(self, sales, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_DQ_HTTP", '{"conn_type": "http", "host": "example.test"}')
        outcome, pushed = run_checks([{"check": "row_count", "min": 1}], conn_id="dq_http")
        assert isinstance(outcome, AirflowFailException)
        assert "connection 'dq_http' (type 'http') has no SQL hook" in str(outcome)
        assert pushed == {}

    def test_missing_table_names_the_relation(self, sales):
        with pytest.raises(Exception, match='relation "dq.nope" does not exist'):
            DataQualityOperator(
                task_id="dq", table="dq.nope", checks=[{"check": "row_count", "min": 1}]
            ).execute({"run_id": "x"})

    def test_spec_errors_are_not_retried_but_check_failures_are(self, sales):
        bad_spec, _ = run_checks([{"check": "row_count"}])
        failed, _ = run_checks([{"check": "row_count", "max": 0}])
        assert isinstance(bad_spec, AirflowFailException)
        assert isinstance(failed, AirflowException) and not isinstance(failed, AirflowFailException)


def test_on_kill_cancels_the_running_query(sales, warehouse, sales_sandbox):
    import threading
    import time

    operator = DataQualityOperator(
        task_id="dq",
        table="dq.sales",
        checks=[
            {"check": "row_count", "min": 1},
            {
                "check": "sql",
                "name": "slow",
                "sql": "SELECT count(*) FROM pg_sleep(60)",
                "op": "=",
                "value": 1,
            },
            {"check": "unique", "column": "order_id"},
        ],
    )
    slow = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT count(*) FROM pg_sleep%'"
    killed = threading.Event()

    def kill_when_running() -> None:  # what the task runner does on SIGTERM, from outside the task
        conn = sales_sandbox.connect_warehouse()
        conn.autocommit = True  # a fresh pg_stat_activity snapshot on every poll (no `with conn`)
        try:
            with conn.cursor() as cur:
                for _ in range(200):
                    cur.execute(slow)
                    if cur.fetchone()[0]:
                        operator.on_kill()
                        killed.set()
                        return
                    time.sleep(0.05)
        finally:
            conn.close()

    killer = threading.Thread(target=kill_when_running)
    started = time.monotonic()
    killer.start()
    try:
        with pytest.raises(Exception, match="(?i)cancel"):
            operator.execute({"ti": TaskInstanceRecorder(), "run_id": "kill"})
    finally:
        killer.join(30)
    assert killed.is_set() and time.monotonic() - started < 30
    with warehouse.cursor() as cur:
        cur.execute(slow.replace("pg_stat_activity WHERE", "pg_stat_activity WHERE state = 'active' AND"))
        assert cur.fetchone()[0] == 0
