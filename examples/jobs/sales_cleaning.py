"""Glue job: clean one day of raw sales CSV into Parquet (de-duplicated, one schema).

Arguments (Glue passes them as ``--name value``; the DAG sets them per run)::

    --input_path   s3://sales-lake/raw/sales/2024-03-01/a.csv,...  the day's raw CSV files (comma-separated
                                                           files or folders: exactly what the DAG listed)
    --output_path  s3://sales-clean/sales/ds=2024-03-01/  where the cleaned Parquet goes (replaced)
    --ds           2024-03-01                             the day; rows of other days are dropped

The transformation is :func:`clean_sales`, plain functions over DataFrames so it is tested with a local
Spark; only :func:`main` touches storage. Runs on AWS Glue 4+/5 (Spark 3.3+) and with ``spark-submit``.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: The cleaned schema, in column order: what the aggregation job and the Athena table read.
CLEAN_COLUMNS = (
    "sale_id",
    "store_id",
    "sale_date",
    "sold_at",
    "category",
    "product",
    "quantity",
    "unit_price",
    "amount",
    "updated_at",
)
#: Raw headers seen from the stores' tills, mapped to the cleaned names.
COLUMN_ALIASES = {
    "id": "sale_id",
    "order_id": "sale_id",
    "store": "store_id",
    "sold_on": "sold_at",
    "timestamp": "sold_at",
    "qty": "quantity",
    "price": "unit_price",
    "last_modified": "updated_at",
}


def snake_case(name: str) -> str:
    """``"Unit Price"`` → ``"unit_price"``, ``"storeId"`` → ``"store_id"``."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def standardise(df: DataFrame) -> DataFrame:
    """One schema whatever the till wrote: snake_case names, aliases, trimmed text, typed columns.

    ``category`` is lower-cased; ``amount`` is ``quantity * unit_price`` rounded to cents; ``sale_date`` is
    the date of ``sold_at``. Malformed numbers and times become NULL; rows without a ``sale_id`` or
    ``sold_at`` cannot be placed and are dropped.
    """
    from pyspark.sql import functions as F

    for column in df.columns:
        name = snake_case(column)
        df = df.withColumnRenamed(column, COLUMN_ALIASES.get(name, name))
    for column in ("updated_at", "product"):
        if column not in df.columns:
            df = df.withColumn(column, F.lit(None).cast("string"))

    def typed(column: str, spark_type: str) -> Column:
        # try_cast: a malformed value becomes NULL instead of failing the job (Spark's ANSI mode)
        return F.expr(f"try_cast(trim(`{column}`) AS {spark_type})")

    sold_at = typed("sold_at", "timestamp")
    quantity = typed("quantity", "int")
    unit_price = typed("unit_price", "decimal(12,2)")
    return df.select(
        typed("sale_id", "bigint").alias("sale_id"),
        typed("store_id", "int").alias("store_id"),
        F.to_date(sold_at).alias("sale_date"),
        sold_at.alias("sold_at"),
        F.lower(F.trim(F.col("category"))).alias("category"),
        F.trim(F.col("product")).alias("product"),
        quantity.alias("quantity"),
        unit_price.alias("unit_price"),
        F.round(quantity * unit_price, 2).cast("decimal(12,2)").alias("amount"),
        typed("updated_at", "timestamp").alias("updated_at"),
    ).where(F.col("sale_id").isNotNull() & F.col("sold_at").isNotNull())


def deduplicate(df: DataFrame) -> DataFrame:
    """One row per ``sale_id``: the latest ``updated_at`` wins (a row without one loses to any with one)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest_first = Window.partitionBy("sale_id").orderBy(
        F.col("updated_at").desc_nulls_last(), F.col("sold_at").desc()
    )
    return df.withColumn("_rank", F.row_number().over(latest_first)).where("_rank = 1").drop("_rank")


def clean_sales(raw: DataFrame, ds: str) -> DataFrame:
    """The day's sales, standardised and de-duplicated, in :data:`CLEAN_COLUMNS` order."""
    from pyspark.sql import functions as F

    day = standardise(raw).where(F.col("sale_date") == F.lit(ds).cast("date"))
    return deduplicate(day).select(*CLEAN_COLUMNS)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_path", required=True)
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--ds", required=True)
    args, _glue_own = parser.parse_known_args(argv)  # Glue adds --JOB_NAME, --job-bookmark-option, ...
    return args


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> None:
    from pyspark.sql import SparkSession

    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = spark or SparkSession.builder.appName("sales_cleaning").getOrCreate()
    paths = [path for path in args.input_path.split(",") if path.strip()]
    raw = spark.read.option("header", True).csv(paths)  # every column read as text
    clean_sales(raw, args.ds).write.mode("overwrite").parquet(args.output_path)


if __name__ == "__main__":
    main()
