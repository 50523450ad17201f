{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.daily_store_sales (
    sale_date date NOT NULL,
    store_id integer NOT NULL,
    orders integer NOT NULL,
    units integer NOT NULL,
    revenue numeric(14, 2) NOT NULL,
    refunds numeric(14, 2) NOT NULL,
    PRIMARY KEY (sale_date, store_id)
)
