"""Dataset naming (pure), the outlets ``emit_asset`` declares, and nothing built without the provider."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime

import pytest

from airflow_sales_provider.lineage import (
    DatasetName,
    asset_uri,
    athena_table,
    common_prefix,
    connection_table,
    data_api_table,
    s3_inputs,
    s3_object,
    split_s3,
    warehouse_table,
)

HAS_PROVIDER = importlib.util.find_spec("airflow.providers.openlineage") is not None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("postgres", "db.internal", None, "analytics", "sales"),
            ("postgres://db.internal:5432", "analytics.public.sales"),
        ),
        (("postgresql", "h", 6543, "analytics", "mart.sales"), ("postgres://h:6543", "analytics.mart.sales")),
        (
            (
                "redshift",
                "sales-dw.abc123.eu-west-1.redshift.amazonaws.com",
                5439,
                "dev",
                "sales",
                "analytics",
            ),
            ("redshift://sales-dw.eu-west-1:5439", "dev.analytics.sales"),
        ),
        (
            ("redshift", "sales-dw.abc123.cn-north-1.redshift.amazonaws.com.cn", None, "dev", "sales"),
            ("redshift://sales-dw.cn-north-1:5439", "dev.public.sales"),
        ),
        (
            ("redshift", "proxy.internal", None, "dev", "sales"),
            ("redshift://proxy.internal:5439", "dev.public.sales"),
        ),
    ],
)
def test_warehouse_tables_are_named_as_the_providers_name_them(args, expected):
    assert warehouse_table(*args) == DatasetName(*expected)


def test_redshift_extras_name_the_cluster():
    extra = {"iam": True, "cluster_identifier": "sales-dw", "region_name": "us-east-2"}
    assert warehouse_table("redshift", None, None, "dev", "sales", extra=extra).namespace == (
        "redshift://sales-dw.us-east-2:5439"
    )


def test_asset_uris_are_the_providers_aip60_form():
    assert asset_uri(DatasetName("postgres://h:5432", "analytics.public.sales")) == (
        "postgres://h:5432/analytics/public/sales"
    )
    assert (
        asset_uri(DatasetName("redshift://dw.eu-west-1:5439", "dev.a.b"))
        == "redshift://dw.eu-west-1:5439/dev/a/b"
    )
    assert asset_uri(s3_object("reports", "daily/2024-03-01.csv")) == "s3://reports/daily/2024-03-01.csv"
    with pytest.raises(ValueError, match="database.schema.table"):
        asset_uri(DatasetName("postgres://h:5432", "public.sales"))  # a connection without a database


def test_connection_table_reads_both_forms_of_an_airflow_connection():
    as_json = json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 45001,
            "login": "u",
            "password": "p",
            "schema": "wh",
        }
    )
    assert connection_table(as_json, "public.sales_daily") == DatasetName(
        "postgres://127.0.0.1:45001", "wh.public.sales_daily"
    )
    assert connection_table("postgresql://u:secret@db.internal/analytics", "sales") == DatasetName(
        "postgres://db.internal:5432", "analytics.public.sales"
    )
    redshift = "redshift://u:p@sales-dw.abc.eu-west-1.redshift.amazonaws.com:5439/dev"
    assert connection_table(redshift, "sales", "mart").name == "dev.mart.sales"
    assert connection_table(redshift, "sales", "mart").namespace == "redshift://sales-dw.eu-west-1:5439"


def test_data_api_targets_are_named_by_cluster_or_workgroup():
    cluster = data_api_table({"cluster_identifier": "dw", "database": "dev"}, "eu-west-1", "sales", "mart")
    assert cluster == DatasetName("redshift://dw.eu-west-1:5439", "dev.mart.sales")
    serverless = data_api_table({"workgroup_name": "wg", "database": "dev"}, "us-east-1", "sales")
    assert serverless == DatasetName("redshift://wg.us-east-1:5439", "dev.public.sales")


def test_s3_inputs_name_each_object_or_their_common_prefix():
    assert split_s3("s3://bucket/a/b.csv") == DatasetName("s3://bucket", "a/b.csv")
    assert split_s3("s3://bucket") == DatasetName("s3://bucket", "/")
    keys = [f"sales/2024-03-01/store_{i:02}.csv" for i in range(3)]
    assert s3_inputs("raw", keys) == [DatasetName("s3://raw", k) for k in keys]
    many = [f"sales/2024-03-01/store_{i:02}.csv" for i in range(21)]
    assert s3_inputs("raw", many) == [DatasetName("s3://raw", "sales/2024-03-01/")]
    assert common_prefix(["a/b/c.csv", "a/b2/d.csv"]) == "a/"
    assert common_prefix(["x.csv", "y.csv"]) == ""
    assert common_prefix([]) == ""


def test_athena_tables_are_named_as_the_amazon_provider_names_them():
    assert athena_table("eu-west-1", "AwsDataCatalog", "sales", "orders") == DatasetName(
        "awsathena://athena.eu-west-1.amazonaws.com", "AwsDataCatalog.sales.orders"
    )


def _dag():
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow import DAG  # type: ignore[attr-defined,no-redef]
    return DAG(dag_id="lineage_unit", schedule=None, start_date=datetime(2024, 1, 1))


def test_emit_asset_declares_an_alias_outlet_per_task():
    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS
    from airflow_sales_provider.operators.athena_report import AthenaReportOperator
    from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator

    with _dag():
        load = RedshiftLoadOperator(
            task_id="load", table="sales", s3_prefix="p/", s3_bucket="b", emit_asset=True
        )
        report = AthenaReportOperator(
            task_id="report", sql="SELECT 1", report_s3_uri="s3://r/x.csv", emit_asset=True
        )
        plain = RedshiftLoadOperator(task_id="plain", table="sales", s3_prefix="p/", s3_bucket="b")
    alias_type = "AssetAlias" if AIRFLOW_V_3_0_PLUS else "DatasetAlias"
    for task in (load, report):
        (outlet,) = task.outlets
        assert type(outlet).__name__ == alias_type
        assert outlet.name == f"airflow_sales_provider:lineage_unit.{task.task_id}"
    assert plain.outlets == []


def test_compat_asset_is_the_lines_asset_class():
    from airflow_sales_provider.compat import AIRFLOW_V_3_0_PLUS, asset

    made = asset("postgres://h:5432/db/public/sales")
    assert type(made).__name__ == ("Asset" if AIRFLOW_V_3_0_PLUS else "Dataset")
    assert made.uri == "postgres://h:5432/db/public/sales"


@pytest.mark.skipif(HAS_PROVIDER, reason="the openlineage provider is installed on this line")
def test_without_the_provider_no_lineage_is_built():
    from airflow_sales_provider.operators.athena_report import AthenaReportOperator
    from airflow_sales_provider.operators.redshift_load import RedshiftLoadOperator
    from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

    load = RedshiftLoadOperator(task_id="load", table="sales", s3_prefix="p/", s3_bucket="b")
    load._loaded = ("b", [], 0)
    report = AthenaReportOperator(task_id="report", sql="SELECT 1", report_s3_uri="s3://r/x.csv")
    sensor = S3ArrivalSensor(task_id="wait", bucket="b", prefix="p/")
    assert report.get_openlineage_facets_on_complete(None) is None
    assert sensor.get_openlineage_facets_on_start() is None
    from airflow_sales_provider.lineage.facets import load_lineage

    assert load_lineage([], DatasetName("postgres://h:5432", "d.public.t"), rows=0, size=0, files=0) is None


def test_the_docs_page_shows_the_example_exactly_and_is_linked():
    import re
    import textwrap
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    doc = (repo / "docs" / "lineage.md").read_text()
    includes = re.findall(r"<!-- include: (\S+) (\S+) -->\n```python\n(.*?)\n```", doc, re.S)
    assert [name for _, name, _ in includes] == ["howto_schedule_on_table", "howto_daily_sales_asset"]
    for path, name, snippet in includes:
        source = (repo / path).read_text()
        match = re.search(rf"# \[START {name}\]\n(.*?)\n\s*# \[END {name}\]", source, re.S)
        assert match, f"{name} markers missing in {path}"
        assert textwrap.dedent(snippet) == textwrap.dedent(match.group(1))
    assert "(lineage.md)" in (repo / "docs" / "index.md").read_text()
