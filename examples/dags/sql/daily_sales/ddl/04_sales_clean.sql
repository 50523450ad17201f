{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
CREATE TABLE IF NOT EXISTS {{ schema }}.sales_clean (
    order_id bigint NOT NULL,
    line_no integer NOT NULL,
    store_id integer NOT NULL,
    sale_date date NOT NULL,
    sold_at timestamp NOT NULL,
    customer_id integer,
    category varchar(32) NOT NULL,
    quantity integer NOT NULL,
    amount numeric(12, 2) NOT NULL,
    kind varchar(16) NOT NULL,
    net_amount numeric(12, 2) NOT NULL,
    loaded_at timestamp NOT NULL,
    PRIMARY KEY (order_id, line_no)
)
