{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.category_map (
    raw_category varchar(64) NOT NULL PRIMARY KEY,
    category varchar(32) NOT NULL
)
