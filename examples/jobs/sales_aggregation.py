"""EMR Spark step: a day's cleaned sales → daily totals with KPIs, and a per-category summary.

Arguments (``spark-submit sales_aggregation.py --input_path ... --output_path ... --ds ...``)::

    --input_path   s3://sales-clean/sales/ds=2024-03-01/       the cleaning job's Parquet
    --output_path  s3://sales-lake/agg/                        root of the aggregates
    --ds           2024-03-01

It writes ``<output_path>/daily_totals/ds=<ds>/`` and ``<output_path>/category_summary/ds=<ds>/`` (the
day's folder replaced, other days untouched; Hive-style so Athena can partition on ``ds``), each one CSV
file with a header, ready for ``RedshiftLoadOperator(mode="replace_partition")``.
The logic is :func:`daily_totals` and :func:`category_summary`, plain functions over DataFrames.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DAILY_TOTALS_COLUMNS = ("sale_date", "orders", "units", "revenue", "avg_order_value", "stores")
CATEGORY_SUMMARY_COLUMNS = ("sale_date", "category", "orders", "units", "revenue", "revenue_share")


def daily_totals(sales: DataFrame) -> DataFrame:
    """Per day: orders, units, revenue, average order value and the number of stores that sold."""
    from pyspark.sql import functions as F

    return (
        sales.groupBy("sale_date")
        .agg(
            F.count("sale_id").alias("orders"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("amount").cast("decimal(14,2)").alias("revenue"),
            F.countDistinct("store_id").alias("stores"),
        )
        .withColumn("avg_order_value", F.round(F.col("revenue") / F.col("orders"), 2).cast("decimal(12,2)"))
        .select(*DAILY_TOTALS_COLUMNS)
    )


def category_summary(sales: DataFrame) -> DataFrame:
    """Per day and category: orders, units, revenue and the category's share of the day's revenue (0–1)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    day = Window.partitionBy("sale_date")
    return (
        sales.groupBy("sale_date", "category")
        .agg(
            F.count("sale_id").alias("orders"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("amount").cast("decimal(14,2)").alias("revenue"),
        )
        .withColumn(
            "revenue_share", F.round(F.col("revenue") / F.sum("revenue").over(day), 4).cast("decimal(6,4)")
        )
        .select(*CATEGORY_SUMMARY_COLUMNS)
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_path", required=True)
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--ds", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = spark or SparkSession.builder.appName("sales_aggregation").getOrCreate()
    sales = spark.read.parquet(args.input_path).where(F.col("sale_date") == F.lit(args.ds).cast("date"))
    output = args.output_path.rstrip("/")
    for name, frame in (("daily_totals", daily_totals(sales)), ("category_summary", category_summary(sales))):
        frame.coalesce(1).write.mode("overwrite").option("header", True).csv(f"{output}/{name}/ds={args.ds}/")


if __name__ == "__main__":
    main()
