"""The data-quality compiler without a database: SQL shape, quoting, binding, both dialects (sqlglot)."""

from __future__ import annotations

import datetime

import pytest
import sqlglot
from sqlglot import exp

from airflow_sales_provider.checks import Partition, compile_checks, evaluate, parse_spec
from airflow_sales_provider.checks.compiler import Query, escape_percent
from airflow_sales_provider.sql.dialects import PostgresDialect, RedshiftDialect

SPEC = [
    {"check": "row_count", "min": 1},
    {"check": "not_null", "columns": ["order_id", "customer_id"]},
    {"check": "not_null", "column": "amount", "max_null_pct": 1},
    {"check": "accepted_values", "column": "category", "values": ["food", "toys"]},
    {"check": "range", "column": "amount", "min": 0, "max": 1000},
    {"check": "freshness", "column": "sold_at", "max_age": "1 day"},
    {"check": "expression", "expression": "quantity <= 100 AND note NOT LIKE 'x%'"},
    {"check": "unique", "column": "order_id"},
    {"check": "unique", "columns": ["order_id", "line_no"]},
    {"check": "distinct_count", "column": "category", "max": 10},
    {"check": "relationships", "column": "customer_id", "to": "dim.customers", "field": "id"},
    {
        "check": "sql",
        "sql": "SELECT count(*) FROM audit.errors WHERE day = %(day)s",
        "op": "=",
        "value": 0,
        "parameters": {"day": "2024-03-01"},
    },
    {
        "check": "reconcile",
        "column": "amount",
        "against": {"table": "raw.sales", "column": "amount", "partition_column": "ds"},
        "tolerance_pct": 0.5,
    },
    {"check": "change", "function": "count", "tolerance_pct": 20},
]
PARTITION = Partition("sale_date", datetime.date(2024, 3, 1))
DIALECTS = [
    pytest.param(PostgresDialect(), "postgres", "pyformat", id="postgres"),
    pytest.param(RedshiftDialect(), "redshift", "format", id="redshift"),
]


def plan_for(dialect, spec=SPEC, partition=PARTITION):
    return compile_checks("sales", parse_spec(spec, history=True), dialect, partition, schema="mart")


@pytest.mark.parametrize(("dialect", "sqlglot_dialect", "paramstyle"), DIALECTS)
def test_every_query_parses_and_binds_every_value(dialect, sqlglot_dialect, paramstyle):
    plan = plan_for(dialect)
    # [unique-key lookup +] scan (with the distinct count and the relationship) + 2 unique (the composite
    # key's hash pre-check and its exact count where the dialect hashes keys) + sql + reconcile
    assert len(plan.queries) == (7 if dialect.unique_keys_sql else 5)
    assert (plan.unique_keys is not None) is (sqlglot_dialect == "postgres")
    for query in plan.queries:
        sql, parameters = query.render(dialect.paramstyle)
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect)
        assert isinstance(tree, exp.Select), sql
        placeholders = list(tree.find_all(exp.Placeholder, exp.Parameter))
        if dialect.paramstyle == "format":
            assert isinstance(parameters, list) and len(placeholders) == len(parameters), sql
        else:
            assert parameters is None or len(placeholders) == len(parameters), sql
        # values never appear in the SQL text
        assert "2024-03-01" not in sql and "'food'" not in sql


@pytest.mark.parametrize(("dialect", "sqlglot_dialect", "paramstyle"), DIALECTS)
def test_one_scan_holds_every_aggregate_check(dialect, sqlglot_dialect, paramstyle):
    plan = plan_for(dialect)
    sql, parameters = plan.scan.render(dialect.paramstyle)
    tree = sqlglot.parse_one(sql, read=sqlglot_dialect)
    tables = [t.sql(sqlglot_dialect) for t in tree.find_all(exp.Table)]
    assert tables == ['"mart"."sales"', '"dim"."customers"']  # one scan, the relationship's parent joined
    # grouped by the distinct_count column: per-category aggregates inside, combined outside
    inner = tree.find(exp.Subquery).this
    assert [g.sql() for g in inner.args["group"].expressions] == ['"category"']
    assert inner.args["where"].sql(sqlglot_dialect).startswith('WHERE "sale_date" = ')
    # count(*) serves row_count and both not_null checks, but is computed once
    assert sql.count("count(*)") == 1
    assert len(tree.expressions) == len(plan.scan_aliases) == len(set(plan.scan_aliases))
    assert tree.expressions[-1].sql() == "COUNT(g) AS " + plan.scan_aliases[-1]
    scan_checks = [c.check.name for c in plan.checks if c.scan_columns]
    assert scan_checks == [
        "row_count",
        "not_null_order_id",
        "not_null_customer_id",
        "not_null_amount",
        "accepted_values_category",
        "range_amount",
        "freshness_sold_at",
        "expression",
        "distinct_count_category",
        "relationships_customer_id",
        "reconcile_sum_amount",
        "change_count",
    ]
    values = list(parameters.values()) if isinstance(parameters, dict) else parameters
    assert values.count(datetime.date(2024, 3, 1)) == 1 and "food" in values and "toys" in values


def test_freshness_is_dialect_specific():
    (pg,) = plan_for(PostgresDialect(), [{"check": "freshness", "column": "t", "max_age": 60}], None).queries
    (rs,) = plan_for(RedshiftDialect(), [{"check": "freshness", "column": "t", "max_age": 60}], None).queries
    assert 'extract(epoch from (now() - max("t")))' in pg.sql
    assert 'datediff(second, max("t"), getdate())' in rs.sql
    tree = sqlglot.parse_one(rs.sql, read="redshift")
    assert 'DATEDIFF(SECOND, MAX("t"), GETDATE())' in tree.sql("redshift")


def test_unique_queries():
    plan = plan_for(PostgresDialect())
    single = next(c.query for c in plan.checks if c.check.name == "unique_order_id")
    assert single.sql == (
        'SELECT count("order_id") - count(DISTINCT "order_id") FROM "mart"."sales" '
        'WHERE "sale_date" = %(partition_0)s'
    )
    composite = next(c for c in plan.checks if c.check.name == "unique_order_id_line_no")
    # PostgreSQL: the distinct count of one hash of the key proves it unique when it comes out 0 ...
    assert composite.query.sql == (
        'SELECT count(*) - count(DISTINCT hash_record_extended(ROW("order_id", "line_no"), 0)) '
        'FROM "mart"."sales" WHERE "order_id" IS NOT NULL AND "line_no" IS NOT NULL '
        'AND "sale_date" = %(partition_0)s'
    )
    # ... else the exact count of the surplus rows confirms (Redshift: only the exact count)
    redshift = next(c for c in plan_for(RedshiftDialect()).checks if c.check.name == composite.check.name)
    assert redshift.confirm is None and redshift.query.sql == composite.confirm.sql
    tree = sqlglot.parse_one(composite.confirm.sql, read="postgres")
    inner = tree.find(exp.Subquery).this
    assert [g.sql() for g in inner.args["group"].expressions] == ['"order_id"', '"line_no"']
    assert inner.args["having"].sql() == "HAVING COUNT(*) > 1"
    assert '"order_id" IS NOT NULL AND "line_no" IS NOT NULL' in composite.confirm.sql
    assert composite.confirm.parameters == composite.query.parameters == {"partition_0": PARTITION.value}


def test_relationships_joins_the_parents_distinct_values_into_the_scan():
    spec = [
        {"check": "row_count", "min": 1},
        {"check": "relationships", "column": "customer_id", "to": "dim.customers", "field": "id"},
        {"check": "relationships", "column": "store_id", "to": "stores", "field": "id", "max_orphans": 2},
    ]
    plan = plan_for(PostgresDialect(), spec)
    assert plan.folded and [c.query for c in plan.checks] == [None, None, None]
    assert plan.scan.sql == (
        "SELECT\n  count(*) AS c0,\n"
        '  count(CASE WHEN "customer_id" IS NOT NULL AND dq_parent_0."dq_parent_key" IS NULL THEN 1 END)'
        " AS c1,\n"
        '  count(CASE WHEN "store_id" IS NOT NULL AND dq_parent_1."dq_parent_key" IS NULL THEN 1 END) AS c2\n'
        'FROM "mart"."sales"'
        ' LEFT JOIN (SELECT DISTINCT "id" AS "dq_parent_key" FROM "dim"."customers") AS dq_parent_0'
        ' ON dq_parent_0."dq_parent_key" = "customer_id"'
        ' LEFT JOIN (SELECT DISTINCT "id" AS "dq_parent_key" FROM "stores") AS dq_parent_1'
        ' ON dq_parent_1."dq_parent_key" = "store_id"'
        ' WHERE "sale_date" = %(partition_0)s'
    )
    results = evaluate(plan, (10, 0, 3), {})
    assert [(r.name, r.observed, r.passed) for r in results] == [
        ("row_count", 10, True),
        ("relationships_customer_id", 0, True),
        ("relationships_store_id", 3, False),
    ]


def test_relationships_is_an_anti_join_with_the_partition_on_the_child():
    plan = compile_checks(
        "sales", parse_spec(SPEC, history=True), PostgresDialect(), PARTITION, schema="mart", fold_joins=False
    )
    assert not plan.folded
    query = next(c.query for c in plan.checks if c.check.type == "relationships")
    assert query.sql == (
        'SELECT count(*) FROM "mart"."sales" AS c WHERE c."customer_id" IS NOT NULL AND '
        'c."sale_date" = %(partition_0)s AND NOT EXISTS (SELECT 1 FROM "dim"."customers" AS p '
        'WHERE p."id" = c."customer_id")'
    )
    assert query.parameters == {"partition_0": datetime.date(2024, 3, 1)}


def test_reconcile_against_table_uses_its_partition_column_and_no_partition_without_it():
    plan = plan_for(PostgresDialect())
    query = next(c.query for c in plan.checks if c.check.type == "reconcile")
    assert query.sql == 'SELECT sum("amount") FROM "raw"."sales" WHERE "ds" = %(partition_0)s'
    spec = [{"check": "reconcile", "function": "count", "against": {"table": "raw.sales"}}]
    (_, query) = plan_for(PostgresDialect(), spec).queries
    assert query.sql == 'SELECT count(*) FROM "raw"."sales"' and query.parameters == {}


def test_custom_sql_gets_partition_value_and_keeps_percent_literals():
    spec = [
        {
            "check": "sql",
            "sql": "SELECT count(*) FROM t WHERE d = %(partition_value)s AND s LIKE 'a%'",
            "op": "=",
            "value": 0,
        }
    ]
    (query,) = plan_for(PostgresDialect(), spec).queries
    assert query.parameters == {"partition_value": datetime.date(2024, 3, 1)}
    assert query.sql == "SELECT count(*) FROM t WHERE d = %(partition_value)s AND s LIKE 'a%%'"
    sql, params = query.render("format")
    assert sql == "SELECT count(*) FROM t WHERE d = %s AND s LIKE 'a%%'" and params == [
        datetime.date(2024, 3, 1)
    ]
    sql, params = query.render("qmark")
    assert sql == "SELECT count(*) FROM t WHERE d = ? AND s LIKE 'a%'"
    (query,) = plan_for(PostgresDialect(), [{**spec[0], "sql": "SELECT 1 WHERE 'a%' <> ''"}], None).queries
    assert query.render() == ("SELECT 1 WHERE 'a%' <> ''", None)  # no parameters: no escaping left


class TestQueryRender:
    QUERY = Query("x", "SELECT %(b)s, %(a)s, %(b)s, 'x%%'", {"a": 1, "b": 2})

    @pytest.mark.parametrize(
        ("style", "expected"),
        [
            pytest.param("pyformat", ("SELECT %(b)s, %(a)s, %(b)s, 'x%%'", {"a": 1, "b": 2}), id="pyformat"),
            pytest.param("format", ("SELECT %s, %s, %s, 'x%%'", [2, 1, 2]), id="format"),
            pytest.param("qmark", ("SELECT ?, ?, ?, 'x%'", [2, 1, 2]), id="qmark"),
            pytest.param("named", ("SELECT :b, :a, :b, 'x%'", {"a": 1, "b": 2}), id="named"),
        ],
    )
    def test_paramstyles(self, style, expected):
        assert self.QUERY.render(style) == expected

    def test_unknown_paramstyle(self):
        with pytest.raises(ValueError, match="unsupported paramstyle 'numeric'"):
            self.QUERY.render("numeric")


def test_escape_percent():
    assert escape_percent("a % 2 = 0 AND b LIKE '%x' AND c = %(v)s", keep={"v"}) == (
        "a %% 2 = 0 AND b LIKE '%%x' AND c = %(v)s"
    )
    assert escape_percent("c = %(v)s") == "c = %%(v)s"  # not a parameter the check declared


def test_no_scan_when_nothing_shares_it():
    plan = plan_for(RedshiftDialect(), [{"check": "unique", "column": "id"}], None)
    assert plan.scan is None and len(plan.queries) == 1


def test_unique_keys_cover_a_key_or_its_superset():
    spec = [
        {"check": "unique", "column": "id"},
        {"check": "unique", "columns": ["id", "line"]},
        {"check": "unique", "columns": ["a", "b"]},
        {"check": "not_null", "column": "id"},
    ]
    plan = plan_for(PostgresDialect(), spec, None)
    assert plan.unique_keys.parameters == {"table": '"mart"."sales"'}
    keys = [["id"], ["b", "c"]]
    assert [plan.covered_by_unique_key(item, keys) for item in plan.checks] == [True, True, False, False]
    assert [plan.covered_by_unique_key(item, []) for item in plan.checks] == [False] * 4
    assert plan_for(PostgresDialect(), spec[3:], None).unique_keys is None  # no unique check, no lookup


def test_identifiers_are_quoted_and_reserved_words_work():
    plan = plan_for(PostgresDialect(), [{"check": "not_null", "columns": ["select", "from"]}], None)
    assert plan.scan.sql == (
        'SELECT\n  count(*) AS c0,\n  count("select") AS c1,\n  count("from") AS c2\nFROM "mart"."sales"'
    )
    sqlglot.parse_one(plan.scan.sql, read="postgres")


def test_athena_and_unknown_connection_types():
    from airflow_sales_provider.sql.dialects import Dialect, dialect_for_checks

    athena = dialect_for_checks("athena")
    assert athena.name == "athena" and athena.unique_keys_sql is None
    assert type(dialect_for_checks("postgres")) is PostgresDialect
    assert type(dialect_for_checks("redshift")) is RedshiftDialect
    assert type(dialect_for_checks("mysql")) is Dialect
    plan = plan_for(athena, [{"check": "freshness", "column": "t", "max_age": 60}, *SPEC[:5]])
    sql, _ = plan.scan.render("qmark")  # sqlglot reads ? placeholders in Trino SQL
    tree = sqlglot.parse_one(sql, read="athena")
    assert """DATE_DIFF('SECOND', CAST(MAX("t") AS TIMESTAMP), LOCALTIMESTAMP)""" in tree.sql("athena")


def test_scan_is_not_grouped_when_a_metric_cannot_be_combined():
    spec = [
        {"check": "row_count", "min": 1},
        {"check": "distinct_count", "column": "category", "max": 10},
        {"check": "distinct_count", "column": "store", "max": 500},
        {"check": "change", "function": "avg", "column": "amount", "tolerance_pct": 10},
    ]
    plan = plan_for(PostgresDialect(), spec, None)
    assert plan.scan.sql == 'SELECT\n  count(*) AS c0,\n  avg("amount") AS c1\nFROM "mart"."sales"'
    assert [q.purpose for q in plan.queries] == ["scan", "distinct_count_category", "distinct_count_store"]
    grouped = plan_for(PostgresDialect(), spec[:3], None)
    assert grouped.scan.sql == (
        "SELECT\n  CAST(coalesce(sum(c0), 0) AS bigint) AS c0,\n  count(g) AS c1\n"
        'FROM (SELECT "category" AS g, count(*) AS c0 FROM "mart"."sales" GROUP BY "category") AS grouped'
    )
    assert [q.purpose for q in grouped.queries] == ["scan", "distinct_count_store"]
    assert grouped.queries[1].sql == (
        'SELECT count(*) FROM (SELECT "store" FROM "mart"."sales" WHERE "store" IS NOT NULL '
        'GROUP BY "store") AS d'
    )
