{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
-- The day's trusted lines: known store, mapped category, typed, refunds as negative net amounts.
INSERT INTO {{ schema }}.sales_clean (
    order_id, line_no, store_id, sale_date, sold_at, customer_id, category, quantity, amount, kind,
    net_amount, loaded_at
)
SELECT
    s.order_id, s.line_no, s.store_id, s.sale_date, s.sold_at, s.customer_id, m.category, s.quantity,
    s.amount, s.kind,
    CASE WHEN s.kind = 'refund' THEN -s.amount ELSE s.amount END,
    CAST(%(loaded_at)s AS timestamp)
FROM {{ schema }}.stg_sales_lines AS s
JOIN {{ schema }}.stores AS st ON st.store_id = s.store_id
JOIN {{ schema }}.category_map AS m ON m.raw_category = LOWER(TRIM(s.category))
WHERE s.sale_date = CAST(%(ds)s AS date)
    AND s.order_id IS NOT NULL AND s.line_no IS NOT NULL AND s.sold_at IS NOT NULL
    AND s.quantity IS NOT NULL AND s.amount >= 0 AND s.kind IN ('sale', 'refund')
