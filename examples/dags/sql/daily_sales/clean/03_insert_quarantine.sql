{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
-- Every staged line of the day that cannot be trusted, with the first reason that applies.
INSERT INTO {{ schema }}.sales_quarantine (
    order_id, line_no, store_id, sale_date, sold_at, customer_id, category, quantity, amount, kind,
    updated_at, reason, quarantined_at
)
SELECT
    s.order_id, s.line_no, s.store_id, s.sale_date, s.sold_at, s.customer_id, s.category, s.quantity,
    s.amount, s.kind, s.updated_at,
    CASE
        WHEN s.order_id IS NULL THEN 'missing order id'
        WHEN st.store_id IS NULL THEN 'unknown store'
        WHEN s.amount < 0 THEN 'negative amount'
        WHEN s.kind IS NULL OR s.kind NOT IN ('sale', 'refund') THEN 'unknown kind'
        WHEN m.category IS NULL THEN 'unknown category'
        ELSE 'missing value'
    END,
    CAST(%(loaded_at)s AS timestamp)
FROM {{ schema }}.stg_sales_lines AS s
LEFT JOIN {{ schema }}.stores AS st ON st.store_id = s.store_id
LEFT JOIN {{ schema }}.category_map AS m ON m.raw_category = LOWER(TRIM(s.category))
WHERE s.sale_date = CAST(%(ds)s AS date)
    AND (
        s.order_id IS NULL OR st.store_id IS NULL OR s.amount IS NULL OR s.amount < 0
        OR s.kind IS NULL OR s.kind NOT IN ('sale', 'refund') OR m.category IS NULL
        OR s.line_no IS NULL OR s.sold_at IS NULL OR s.quantity IS NULL
    )
