{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.daily_kpis (
    sale_date date NOT NULL PRIMARY KEY,
    revenue numeric(14, 2) NOT NULL,
    units integer NOT NULL,
    orders integer NOT NULL,
    avg_basket numeric(14, 2) NOT NULL,
    refunds numeric(14, 2) NOT NULL
)
