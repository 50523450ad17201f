"""The EMR aggregation step's logic on tiny hand-made frames, and its main() on local files."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from tests.unit.jobs.conftest import SKIP_REASON, load_job

pytest.importorskip("pyspark", reason=SKIP_REASON)

aggregation = load_job("sales_aggregation")

D1, D2 = date(2024, 3, 1), date(2024, 3, 2)


@pytest.fixture
def sales(spark):
    schema = "sale_id long, store_id int, sale_date date, category string, quantity int, amount decimal(12,2)"
    return spark.createDataFrame(
        [
            (1, 10, D1, "toys", 2, Decimal("9.00")),
            (2, 10, D1, "food", 1, Decimal("1.50")),
            (3, 11, D1, "food", 3, Decimal("4.50")),
            (4, 12, D2, "books", 1, Decimal("20.00")),
        ],
        schema,
    )


def test_daily_totals(sales):
    rows = [tuple(r) for r in aggregation.daily_totals(sales).orderBy("sale_date").collect()]

    assert rows == [
        (D1, 3, 6, Decimal("15.00"), Decimal("5.00"), 2),
        (D2, 1, 1, Decimal("20.00"), Decimal("20.00"), 1),
    ]


def test_category_summary_shares_add_up_per_day(sales):
    rows = [tuple(r) for r in aggregation.category_summary(sales).orderBy("sale_date", "category").collect()]

    assert rows == [
        (D1, "food", 2, 4, Decimal("6.00"), Decimal("0.4000")),
        (D1, "toys", 1, 2, Decimal("9.00"), Decimal("0.6000")),
        (D2, "books", 1, 1, Decimal("20.00"), Decimal("1.0000")),
    ]


def test_main_writes_one_csv_per_output_for_the_day(spark, sales, tmp_path):
    clean = tmp_path / "clean"
    sales.write.parquet(str(clean))
    out = tmp_path / "agg"

    aggregation.main(
        ["--input_path", str(clean), "--output_path", str(out), "--ds", "2024-03-02"], spark=spark
    )

    for name, header, expected in (
        ("daily_totals", aggregation.DAILY_TOTALS_COLUMNS, [["2024-03-02", "1", "1", "20.00", "20.00", "1"]]),
        (
            "category_summary",
            aggregation.CATEGORY_SUMMARY_COLUMNS,
            [["2024-03-02", "books", "1", "1", "20.00", "1.0000"]],
        ),
    ):
        (part,) = (out / name / "ds=2024-03-02").glob("part-*.csv")
        with part.open() as f:
            rows = list(csv.reader(f))
        assert rows == [list(header), *expected]
