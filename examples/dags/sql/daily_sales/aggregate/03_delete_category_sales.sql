{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
DELETE FROM {{ schema }}.daily_category_sales WHERE sale_date = CAST(%(ds)s AS date)
