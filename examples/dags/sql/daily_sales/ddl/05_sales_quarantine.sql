{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.sales_quarantine (
    order_id bigint,
    line_no integer,
    store_id integer,
    sale_date date NOT NULL,
    sold_at timestamp,
    customer_id integer,
    category varchar(64),
    quantity integer,
    amount numeric(12, 2),
    kind varchar(16),
    updated_at timestamp,
    reason varchar(64) NOT NULL,
    quarantined_at timestamp NOT NULL
)
