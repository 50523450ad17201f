"""The loader's decisions as pure logic (no Airflow, no I/O).

:mod:`.plan` decides what a load does (which objects, which columns, what the ledger records);
:mod:`.redshift` builds the Redshift load's statement list and reads Redshift's answers. The SQL text
itself comes from :mod:`airflow_sales_provider.sql.load` and :mod:`airflow_sales_provider.ledger`.
"""
