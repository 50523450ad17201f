{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
DELETE FROM {{ schema }}.sales_quarantine WHERE sale_date = CAST(%(ds)s AS date)
