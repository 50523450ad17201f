-- Daily sales per store, read by example_athena_report (rendered with Jinja: {{ ds }} is the run's date).
SELECT store_id, count(*) AS orders, sum(amount) AS revenue
FROM sales.orders
WHERE order_date = DATE '{{ ds }}'
GROUP BY store_id
ORDER BY store_id
