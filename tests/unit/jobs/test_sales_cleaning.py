"""The Glue cleaning job's logic on tiny hand-made frames, and its main() on local files."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.unit.jobs.conftest import SKIP_REASON, load_job

pytest.importorskip("pyspark", reason=SKIP_REASON)

cleaning = load_job("sales_cleaning")

RAW_HEADER = ["Sale ID", "storeId", "Sold At", "Category", "Product", "Qty", "Unit Price", "Updated At"]


def raw_frame(spark, rows):
    return spark.createDataFrame(rows, RAW_HEADER)  # every column text, as spark.read.csv gives


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("Unit Price", "unit_price", id="spaces"),
        pytest.param("storeId", "store_id", id="camel"),
        pytest.param(" Sale-ID ", "sale_id", id="punctuation"),
        pytest.param("qty", "qty", id="already-snake"),
    ],
)
def test_snake_case(raw, clean):
    assert cleaning.snake_case(raw) == clean


def test_clean_sales_standardises_deduplicates_and_keeps_the_day(spark):
    raw = raw_frame(
        spark,
        [
            # sale 1 sent twice: the later update wins
            ("1", "10", "2024-03-01 09:00:00", " Toys ", "kite", "2", "4.50", "2024-03-01 09:00:00"),
            ("1", "10", "2024-03-01 09:00:00", "toys", "kite", "3", "4.50", "2024-03-01 10:00:00"),
            # no updated_at: kept, it is the only version
            ("2", "11", "2024-03-01 23:59:59", "FOOD", " bread ", "1", "2.333", None),
            # another day: dropped
            ("3", "10", "2024-03-02 00:00:00", "food", "milk", "1", "1.00", None),
            # no sale id, unparseable time: dropped
            (None, "10", "2024-03-01 08:00:00", "food", "egg", "1", "0.20", None),
            ("4", "10", "yesterday", "food", "egg", "1", "0.20", None),
        ],
    )

    rows = [r.asDict() for r in cleaning.clean_sales(raw, "2024-03-01").orderBy("sale_id").collect()]

    assert rows == [
        {
            "sale_id": 1,
            "store_id": 10,
            "sale_date": date(2024, 3, 1),
            "sold_at": datetime(2024, 3, 1, 9, 0),
            "category": "toys",
            "product": "kite",
            "quantity": 3,
            "unit_price": Decimal("4.50"),
            "amount": Decimal("13.50"),
            "updated_at": datetime(2024, 3, 1, 10, 0),
        },
        {
            "sale_id": 2,
            "store_id": 11,
            "sale_date": date(2024, 3, 1),
            "sold_at": datetime(2024, 3, 1, 23, 59, 59),
            "category": "food",
            "product": "bread",
            "quantity": 1,
            "unit_price": Decimal("2.33"),
            "amount": Decimal("2.33"),
            "updated_at": None,
        },
    ]


def test_aliases_and_missing_optional_columns(spark):
    raw = spark.createDataFrame(
        [("7", "3", "2024-03-01T12:00:00", "books", "2", "10")],
        ["order_id", "store", "timestamp", "category", "qty", "price"],
    )

    (row,) = cleaning.clean_sales(raw, "2024-03-01").collect()

    assert tuple(row.asDict()) == cleaning.CLEAN_COLUMNS
    assert (row.sale_id, row.store_id, row.amount, row.product, row.updated_at) == (
        7,
        3,
        Decimal("20.00"),
        None,
        None,
    )


def test_main_reads_the_day_and_replaces_the_output(spark, tmp_path):
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "store_2.csv").write_text("Sale ID,storeId,Sold At,Category,Product,Qty,Unit Price\n")
    (raw_dir / "store_1.csv").write_text(
        "Sale ID,storeId,Sold At,Category,Product,Qty,Unit Price,Updated At\n"
        "1,10,2024-03-01 09:00:00,toys,kite,1,5.00,\n"
        "1,10,2024-03-01 09:00:00,toys,kite,2,5.00,2024-03-01 11:00:00\n"
    )
    out = tmp_path / "clean"
    inputs = f"{raw_dir / 'store_1.csv'},{raw_dir / 'store_2.csv'}"  # the files the DAG listed
    args = ["--input_path", inputs, "--output_path", str(out), "--ds", "2024-03-01", "--JOB_NAME", "x"]

    cleaning.main(args, spark=spark)
    cleaning.main(args, spark=spark)  # a rerun replaces, never appends

    rows = spark.read.parquet(str(out)).select("sale_id", "quantity", "amount").collect()
    assert [tuple(r) for r in rows] == [(1, 2, Decimal("10.00"))]
