{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.stg_sales_lines (
    order_id bigint,
    line_no integer,
    store_id integer,
    sale_date date,
    sold_at timestamp,
    customer_id integer,
    category varchar(64),
    quantity integer,
    amount numeric(12, 2),
    kind varchar(16),
    updated_at timestamp
)
