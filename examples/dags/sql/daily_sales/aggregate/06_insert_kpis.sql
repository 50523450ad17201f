{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
-- revenue is net of refunds; the average basket is revenue per order with a sale.
INSERT INTO {{ schema }}.daily_kpis (sale_date, revenue, units, orders, avg_basket, refunds)
SELECT
    CAST(%(ds)s AS date),
    COALESCE(SUM(net_amount), 0),
    COALESCE(SUM(CASE WHEN kind = 'sale' THEN quantity END), 0),
    COUNT(DISTINCT CASE WHEN kind = 'sale' THEN order_id END),
    CASE
        WHEN COUNT(DISTINCT CASE WHEN kind = 'sale' THEN order_id END) = 0 THEN 0
        ELSE ROUND(
            SUM(net_amount) / COUNT(DISTINCT CASE WHEN kind = 'sale' THEN order_id END), 2
        )
    END,
    COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount END), 0)
FROM {{ schema }}.sales_clean
WHERE sale_date = CAST(%(ds)s AS date)
