-- The day's category summary, biggest revenue first (daily_sales_glue_emr's Athena report).
SELECT category, orders, units, revenue, revenue_share
FROM daily_category_sales
WHERE ds = '{{ ds }}'
ORDER BY revenue DESC, category
