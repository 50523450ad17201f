{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.stores (
    store_id integer NOT NULL PRIMARY KEY,
    store_name varchar(100) NOT NULL,
    region varchar(32) NOT NULL
)
