"""The S3 arrival contract, as pure logic (no Airflow, no I/O).

:mod:`.settle` decides when files have arrived; :mod:`.xcom` is the hand-over to the loader, both
directions: what :class:`~airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor` returns and how
:class:`~airflow_sales_provider.operators.redshift_load.RedshiftLoadOperator` reads it.
"""
