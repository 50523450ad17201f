"""Exact SQL of every load mode, per dialect, and a parse of every Redshift statement with sqlglot."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlglot
from sqlglot import exp

from airflow_sales_provider.ledger import (
    create_table_sql,
    insert_from_copy_sql,
    insert_sql,
    ledger_identifier,
    loaded_objects_sql,
    normalise_etag,
)
from airflow_sales_provider.sql.dialects import PostgresDialect, RedshiftDialect
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import (
    PARTITION_GUARD,
    FormatOptions,
    LoadConfigError,
    LoadPlan,
    copies_into_target,
    copy_literal,
    create_stage_sql,
    direct_mode_sql,
    duplicate_keys_sql,
    inline_params,
    mode_sql,
    partition_guard_sql,
    postgres_copy_sql,
    redshift_copy_sql,
    unique_upsert_sql,
)

COLS = ("sale_id", "store_id", "sale_date", "amount")
T = '"analytics"."sales"'
COLS_SQL = '"sale_id", "store_id", "sale_date", "amount"'
INSERT = f'INSERT INTO {T} ({COLS_SQL}) SELECT {COLS_SQL} FROM "_sales_stage"'
ROLE = "arn:aws:iam::123456789012:role/loader"
RANKED = (
    f'SELECT {COLS_SQL} FROM (SELECT {COLS_SQL}, ROW_NUMBER() OVER (PARTITION BY "sale_id" '
    'ORDER BY "amount" DESC, "sale_date" ASC) AS "_sales_rn" FROM "_sales_stage") AS "_sales_ranked" '
    'WHERE "_sales_rn" = 1'
)


def plan(mode: str = "append", **kwargs) -> LoadPlan:
    return LoadPlan(schema="analytics", table="sales", columns=COLS, mode=mode, **kwargs)


UPSERT = {"upsert_keys": ("sale_id",), "order_by": ("amount", "sale_date ASC")}


class TestModesRedshift:
    dialect = RedshiftDialect()

    def test_stage(self):
        assert create_stage_sql(self.dialect, plan()) == [
            ('CREATE TEMP TABLE "_sales_stage" (LIKE "analytics"."sales")', ())
        ]

    def test_append(self):
        assert mode_sql(self.dialect, plan()) == [(INSERT, ())]

    def test_truncate_insert_deletes_because_truncate_commits_on_redshift(self):
        assert mode_sql(self.dialect, plan("truncate_insert")) == [(f"DELETE FROM {T}", ()), (INSERT, ())]

    def test_replace_partition_binds_the_value(self):
        assert mode_sql(
            self.dialect, plan("replace_partition", partition_column="sale_date"), "2024-03-01"
        ) == [
            (f'DELETE FROM {T} WHERE "sale_date" = %s', ("2024-03-01",)),
            (INSERT, ()),
        ]

    def test_replace_partition_fills_a_missing_partition_column(self):
        p = LoadPlan(
            schema="analytics",
            table="sales",
            columns=("sale_id", "amount"),
            mode="replace_partition",
            partition_column="sale_date",
            fill_partition=True,
        )
        assert create_stage_sql(self.dialect, p) == [
            (
                'CREATE TEMP TABLE "_sales_stage" AS SELECT "sale_id", "amount" '
                'FROM "analytics"."sales" LIMIT 0',
                (),
            )
        ]
        assert mode_sql(self.dialect, p, "2024-03-01")[1] == (
            f'INSERT INTO {T} ("sale_id", "amount", "sale_date") '
            'SELECT "sale_id", "amount", %s FROM "_sales_stage"',
            ("2024-03-01",),
        )

    def test_upsert_dedups_the_batch_then_merges(self):
        assert mode_sql(self.dialect, plan("upsert", **UPSERT)) == [
            (f'CREATE TEMP TABLE "_sales_batch" AS {RANKED}', ()),
            (
                f'MERGE INTO {T} USING "_sales_batch" AS "src" ON {T}."sale_id" = "src"."sale_id" '
                'WHEN MATCHED THEN UPDATE SET "store_id" = "src"."store_id", '
                '"sale_date" = "src"."sale_date", '
                '"amount" = "src"."amount" WHEN NOT MATCHED THEN INSERT ("sale_id", "store_id", "sale_date", '
                '"amount") VALUES ("src"."sale_id", "src"."store_id", "src"."sale_date", "src"."amount")',
                (),
            ),
        ]

    def test_upsert_without_order_by_is_refused_on_redshift(self):
        with pytest.raises(LoadConfigError, match="needs order_by"):
            mode_sql(self.dialect, plan("upsert", upsert_keys=("sale_id",)))

    def test_copy_csv_with_manifest_and_role(self):
        sql = redshift_copy_sql(
            plan(),
            FormatOptions(gzip=True, date_format="auto", time_format="auto"),
            manifest_uri="s3://sales-raw/_sales_load/manifests/x.manifest",
            iam_role_arn=ROLE,
        )
        assert sql == (
            f"COPY \"_sales_stage\" ({COLS_SQL}) FROM 's3://sales-raw/_sales_load/manifests/x.manifest' "
            f"IAM_ROLE '{ROLE}' MANIFEST FORMAT AS CSV DELIMITER ',' QUOTE AS '\"' NULL AS '' IGNOREHEADER 1 "
            "DATEFORMAT 'auto' TIMEFORMAT 'auto' GZIP"
        )

    def test_copy_json_paths_parquet_and_tab(self):
        kwargs = {"manifest_uri": "s3://sales-raw/m.manifest", "iam_role_arn": ROLE}
        json_sql = redshift_copy_sql(
            plan(),
            FormatOptions(format="json", json_paths="s3://sales-raw/paths.json"),
            region="eu-west-1",
            **kwargs,
        )
        assert json_sql.endswith("MANIFEST REGION 'eu-west-1' FORMAT AS JSON 's3://sales-raw/paths.json'")
        assert redshift_copy_sql(plan(), FormatOptions(format="parquet"), **kwargs).endswith(
            "MANIFEST FORMAT AS PARQUET"
        )
        tab = redshift_copy_sql(plan(), FormatOptions(delimiter="\t", header=False), **kwargs)
        assert "DELIMITER '\\t'" in tab and "IGNOREHEADER" not in tab

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param(
                {"iam_role_arn": "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=AK"},
                id="role",
            ),
            pytest.param({"iam_role_arn": "AKIAEXAMPLE"}, id="keys-not-role"),
            pytest.param({"manifest_uri": "s3://sales-raw/x' ACCEPTINVCHARS '"}, id="manifest"),
            pytest.param({"region": "eu-west-1' GZIP --"}, id="region"),
        ],
    )
    def test_copy_refuses_literals_that_are_not_what_they_claim(self, kwargs):
        base = {"manifest_uri": "s3://sales-raw/m.manifest", "iam_role_arn": ROLE, **kwargs}
        with pytest.raises(LoadConfigError):
            redshift_copy_sql(plan(), FormatOptions(), **base)


class TestModesPostgres:
    dialect = PostgresDialect()

    def test_stage_and_truncate(self):
        assert create_stage_sql(self.dialect, plan()) == [
            (
                'CREATE TEMP TABLE "_sales_stage" (LIKE "analytics"."sales" INCLUDING DEFAULTS) '
                "ON COMMIT DROP",
                (),
            )
        ]
        assert mode_sql(self.dialect, plan("truncate_insert"))[0] == (f"TRUNCATE {T}", ())

    def test_upsert_deletes_matching_then_inserts_the_deduplicated_batch(self):
        assert create_stage_sql(self.dialect, plan("upsert", upsert_keys=("sale_id",)))[1] == (
            'ALTER TABLE "_sales_stage" ADD COLUMN "_sales_load_seq" BIGINT GENERATED ALWAYS AS IDENTITY',
            (),
        )
        assert mode_sql(self.dialect, plan("upsert", **UPSERT)) == [
            (f'DELETE FROM {T} USING "_sales_stage" WHERE {T}."sale_id" = "_sales_stage"."sale_id"', ()),
            (f"INSERT INTO {T} ({COLS_SQL}) {RANKED}", ()),
        ]
        latest = mode_sql(self.dialect, plan("upsert", upsert_keys=("sale_id",)))[1][0]
        assert 'ORDER BY "_sales_load_seq" DESC' in latest

    def test_copy_from_stdin(self):
        assert postgres_copy_sql(plan(), FormatOptions(delimiter="|", null_string="NULL"), COLS) == (
            f"COPY \"_sales_stage\" ({COLS_SQL}) FROM STDIN WITH (FORMAT csv, DELIMITER '|', QUOTE '\"', "
            "NULL 'NULL', HEADER true)"
        )
        assert postgres_copy_sql(plan(), FormatOptions(format="json"), COLS).endswith("WITH (FORMAT text)")
        with pytest.raises(LoadConfigError, match="only supported on Redshift"):
            postgres_copy_sql(plan(), FormatOptions(format="parquet"), COLS)


class TestPlanValidation:
    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"table": 'sales"; DROP TABLE x; --'}, id="table"),
            pytest.param({"schema": "a.b"}, id="schema"),
            pytest.param({"columns": ("ok", "bad col")}, id="column"),
            pytest.param({"mode": "replace_partition", "partition_column": "d = d OR 1=1"}, id="partition"),
            pytest.param(
                {"mode": "upsert", "upsert_keys": ("sale_id",), "order_by": ("amount; DROP",)}, id="order"
            ),
        ],
    )
    def test_bad_identifiers(self, kwargs):
        base = {"schema": "analytics", "table": "sales", "columns": COLS, **kwargs}
        with pytest.raises((InvalidIdentifierError, LoadConfigError)):
            LoadPlan(**base)

    def test_options(self):
        with pytest.raises(LoadConfigError, match="mode 'merge'"):
            plan("merge")
        with pytest.raises(LoadConfigError, match="upsert key 'nope'"):
            plan("upsert", upsert_keys=("nope",))
        with pytest.raises(LoadConfigError, match="exactly one character"):
            FormatOptions(delimiter="||").validate()
        with pytest.raises(LoadConfigError, match="json_paths"):
            FormatOptions(format="json", json_paths="paths.json").validate()


class TestLiterals:
    def test_copy_literal(self):
        assert copy_literal("it's", "x") == "'it''s'"
        for bad in ("a\\b", "a\nb", "\x00"):
            with pytest.raises(LoadConfigError, match="backslash or a control character"):
                copy_literal(bad, "x")

    def test_inline_params(self):
        assert inline_params("a = %s AND b = %s AND c = %s AND d = %s", ["x'y", 3, None, True]) == (
            "a = 'x''y' AND b = 3 AND c = NULL AND d = TRUE"
        )
        with pytest.raises(ValueError, match="2 placeholders but 1"):
            inline_params("%s %s", [1])


class TestLedgerSql:
    def test_shapes(self):
        ledger = ledger_identifier("ops.load_ledger")
        assert ledger == '"ops"."load_ledger"'
        assert ledger_identifier("load_ledger", "analytics") == '"analytics"."load_ledger"'
        assert loaded_objects_sql(ledger, "analytics.sales", "sales-raw") == (
            'SELECT s3_key, etag FROM "ops"."load_ledger" WHERE target_table = %s AND bucket = %s',
            ("analytics.sales", "sales-raw"),
        )
        assert normalise_etag('"abc"') == "abc"
        assert insert_sql(ledger).count("%s") == 10
        assert insert_from_copy_sql(ledger).count("%s") == 9
        with pytest.raises(InvalidIdentifierError):
            ledger_identifier("x; DROP TABLE y")


def _operator(mode: str, **kwargs):
    from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

    return RedshiftLoadOperator(
        task_id="load",
        table="sales",
        schema="analytics",
        s3_bucket="sales-raw",
        mode=mode,
        iam_role_arn=ROLE,
        columns=list(COLS),
        **kwargs,
    )


MODE_KWARGS = {
    "append": {},
    "truncate_insert": {},
    "replace_partition": {"partition_column": "sale_date", "partition_value": "2024-03-01"},
    "upsert": {"upsert_keys": ["sale_id"], "order_by": ["amount"]},
}


@pytest.mark.parametrize("mode", list(MODE_KWARGS))
def test_every_redshift_statement_of_a_load_parses_with_sqlglot(mode):
    from airflow_sales_provider.hooks.warehouse import S3Object

    op = _operator(mode, **MODE_KWARGS[mode])
    p = LoadPlan(
        schema="analytics",
        table="sales",
        columns=COLS,
        mode=mode,
        partition_column=MODE_KWARGS[mode].get("partition_column"),
        upsert_keys=tuple(MODE_KWARGS[mode].get("upsert_keys", ())),
        order_by=tuple(MODE_KWARGS[mode].get("order_by", ())),
    )
    ctx = {
        "ti": SimpleNamespace(dag_id="d", run_id="scheduled__2024-03-01", try_number=2),
        "run_id": "scheduled__2024-03-01",
    }
    objects = [S3Object("in/a.csv.gz", 10, "e1"), S3Object("in/b.csv.gz", 0, "e2")]
    statements = op.redshift_statements(
        ctx,
        RedshiftDialect(),
        p,
        "sales-raw",
        objects,
        ["in/b.csv.gz"],
        "s3://sales-raw/_sales_load/m.manifest",
        True,
    )
    rendered = [inline_params(sql, params) for sql, params in statements]
    kinds = []
    for sql in rendered:
        parsed = sqlglot.parse(sql, read="redshift")
        assert len(parsed) == 1 and parsed[0] is not None
        kinds.append(type(parsed[0]).__name__)
        if isinstance(parsed[0], exp.Command):  # sqlglot has no LOCK grammar: it must be our LOCK
            assert sql == 'LOCK "analytics"."sales_load_ledger"'
    assert rendered[0] == create_table_sql('"analytics"."sales_load_ledger"')
    assert rendered[2].startswith('CREATE TEMP TABLE "_sales_stage"')
    assert rendered[3].startswith("COPY ") and "IAM_ROLE" in rendered[3] and "GZIP" in rendered[3]
    assert not any("aws_secret_access_key" in s.lower() or "credentials" in s.lower() for s in rendered)
    # the ledger rows: the empty file with 0 rows, the loaded one counted from stl_load_commits
    assert any("stl_load_commits" in s and "'s3://sales-raw/in/a.csv.gz'" in s for s in rendered)
    assert any("'in/b.csv.gz', 'e2', 0, 0" in s for s in rendered)
    assert "Copy" in kinds and "Insert" in kinds


class TestCopyIntoTheTarget:
    """PostgreSQL: the modes that COPY straight into the target, the partition guard, the unique upsert."""

    dialect = PostgresDialect()

    @pytest.mark.parametrize(
        ("mode", "kwargs", "direct"),
        [
            pytest.param("append", {}, True, id="append"),
            pytest.param("truncate_insert", {}, True, id="truncate_insert"),
            pytest.param(
                "replace_partition", {"partition_column": "sale_date"}, True, id="replace_partition"
            ),
            pytest.param(
                "replace_partition",
                {"partition_column": "sale_date", "fill_partition": True},
                False,
                id="partition_filled",
            ),
            pytest.param("upsert", {"upsert_keys": ("sale_id",)}, False, id="upsert"),
        ],
    )
    def test_which_modes_copy_into_the_target(self, mode, kwargs, direct):
        assert copies_into_target(plan(mode, **kwargs)) is direct

    def test_what_runs_before_the_copy(self):
        assert direct_mode_sql(self.dialect, plan()) == []
        assert direct_mode_sql(self.dialect, plan("truncate_insert")) == [(f"TRUNCATE {T}", ())]
        p = plan("replace_partition", partition_column="sale_date")
        assert direct_mode_sql(self.dialect, p, "2024-03-01") == [
            (f'DELETE FROM {T} WHERE "sale_date" = %s', ("2024-03-01",))
        ]

    def test_copy_into_the_target_with_the_partition_guard(self):
        p = plan("replace_partition", partition_column="sale_date")
        guard = partition_guard_sql(p, "2024-03-01")
        assert guard == (
            """WHERE CASE WHEN "sale_date" = '2024-03-01' THEN true ELSE ('"""
            + PARTITION_GUARD
            + """: ' || coalesce("sale_date"::text, 'NULL'))::integer = 0 END"""
        )
        sql = postgres_copy_sql(p, FormatOptions(), COLS, into_target=True, where=guard)
        assert sql.startswith(f"COPY {T} ({COLS_SQL}) FROM STDIN WITH (FORMAT csv, ") and sql.endswith(guard)
        assert partition_guard_sql(p, "it's") is not None and "'it''s'" in str(partition_guard_sql(p, "it's"))
        assert partition_guard_sql(p, 7) is not None and "= 7 THEN" in str(partition_guard_sql(p, 7))

    def test_a_value_no_literal_carries_safely_has_no_guard(self):
        assert partition_guard_sql(plan("replace_partition", partition_column="sale_date"), "a\\b") is None

    def test_unique_upsert_is_the_ranked_upsert_without_the_ranking(self):
        p = plan("upsert", upsert_keys=("sale_id",))
        assert duplicate_keys_sql(p) == (
            'SELECT EXISTS (SELECT 1 FROM "_sales_stage" GROUP BY "sale_id" HAVING count(*) > 1)'
        )
        ranked = mode_sql(self.dialect, p)
        assert unique_upsert_sql(p) == [ranked[0], (INSERT, ())]
