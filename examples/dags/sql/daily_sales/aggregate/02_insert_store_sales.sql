{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
INSERT INTO {{ schema }}.daily_store_sales (sale_date, store_id, orders, units, revenue, refunds)
SELECT
    sale_date,
    store_id,
    COUNT(DISTINCT CASE WHEN kind = 'sale' THEN order_id END),
    COALESCE(SUM(CASE WHEN kind = 'sale' THEN quantity END), 0),
    SUM(net_amount),
    COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount END), 0)
FROM {{ schema }}.sales_clean
WHERE sale_date = CAST(%(ds)s AS date)
GROUP BY sale_date, store_id
