"""OpenLineage data-quality facets: built when the openlineage provider is installed, nothing otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from airflow_sales_provider.checks.results import CheckResult
from airflow_sales_provider.operators.data_quality import DataQualityOperator, openlineage_facets

HAS_PROVIDER = importlib.util.find_spec("airflow.providers.openlineage") is not None
RESULTS = [
    CheckResult("row_count", "row_count", None, 10, ">= 1 rows", True, "fail", 10.0),
    CheckResult("not_null_a", "not_null", "a", 2, "<= 0 nulls", False, "fail", 2.0),
    CheckResult("unique_id", "unique", "id", 0, "<= 0 duplicate rows on (id)", True, "warn", 0.0),
]


@pytest.mark.skipif(HAS_PROVIDER, reason="the openlineage provider is installed in this environment")
def test_without_the_provider_there_is_nothing_to_report():
    operator = DataQualityOperator(task_id="dq", table="t", checks=[{"check": "row_count", "min": 1}])
    operator.results = RESULTS
    assert operator.get_openlineage_facets_on_complete(None) is None


def test_facets_from_results():
    facet_v2 = pytest.importorskip(
        "openlineage.client.facet_v2", reason="openlineage-python is not installed (optional dependency)"
    )
    facets = openlineage_facets(
        RESULTS, facet_v2.data_quality_assertions_dataset, facet_v2.data_quality_metrics_input_dataset
    )
    assertions = facets["dataQualityAssertions"].assertions
    assert [(a.assertion, a.success, a.column) for a in assertions] == [
        ("row_count", True, None),
        ("not_null", False, "a"),
        ("unique", True, "id"),
    ]
    metrics = facets["dataQualityMetrics"]
    assert metrics.rowCount == 10
    assert metrics.columnMetrics["a"].nullCount == 2


@pytest.mark.skipif(not HAS_PROVIDER, reason="the openlineage provider is not installed (optional)")
def test_operator_lineage_has_the_table_with_facets():
    operator = DataQualityOperator(
        task_id="dq", table="mart.sales", checks=[{"check": "row_count", "min": 1}]
    )
    operator.results = RESULTS
    lineage = operator.get_openlineage_facets_on_complete(None)
    (dataset,) = lineage.inputs
    assert dataset.name.endswith("mart.sales")
    assert set(dataset.facets) == {"dataQualityAssertions", "dataQualityMetrics"}


def test_operator_and_results_agree_on_the_xcom_key():
    from airflow_sales_provider.checks import XCOM_KEY
    from airflow_sales_provider.operators import data_quality

    assert data_quality.XCOM_KEY == XCOM_KEY == "data_quality"
