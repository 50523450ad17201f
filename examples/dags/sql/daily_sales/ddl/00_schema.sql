{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE SCHEMA IF NOT EXISTS {{ schema }}
