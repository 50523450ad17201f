{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.daily_category_sales (
    sale_date date NOT NULL,
    category varchar(32) NOT NULL,
    units integer NOT NULL,
    revenue numeric(14, 2) NOT NULL,
    PRIMARY KEY (sale_date, category)
)
