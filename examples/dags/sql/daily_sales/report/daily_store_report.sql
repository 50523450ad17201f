-- The day's report per store, computed by Athena from the lake (the curated day partition), not the
-- warehouse. Rendered with Jinja: {{ ds }} is the run's date.
-- Lake object {{ ti.xcom_pull(task_ids='publish_to_lake')['etag'] }}: changed data, new query (new token).
SELECT
    store_id,
    count(DISTINCT CASE WHEN kind = 'sale' THEN order_id END) AS orders,
    sum(CASE WHEN kind = 'sale' THEN quantity ELSE 0 END) AS units,
    sum(net_amount) AS revenue,
    sum(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS refunds
FROM sales_clean
WHERE sale_date = '{{ ds }}'
GROUP BY store_id
ORDER BY store_id
