{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
DELETE FROM {{ schema }}.daily_store_sales WHERE sale_date = CAST(%(ds)s AS date)
