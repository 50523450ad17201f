{% set schema = var.json.sales_pipeline.schema | sql_identifier %}
INSERT INTO {{ schema }}.daily_category_sales (sale_date, category, units, revenue)
SELECT
    sale_date,
    category,
    COALESCE(SUM(CASE WHEN kind = 'sale' THEN quantity END), 0),
    SUM(net_amount)
FROM {{ schema }}.sales_clean
WHERE sale_date = CAST(%(ds)s AS date)
GROUP BY sale_date, category
