"""``copy_to_stream``: COPY ... TO STDOUT into a file object, on psycopg2 and psycopg 3 alike."""

from __future__ import annotations

import io

import pytest

from airflow_sales_provider.hooks.warehouse import copy_to_stream

pytestmark = pytest.mark.integration

QUERY = (
    "COPY (SELECT g AS n, 'x,' || g AS label FROM generate_series(1, 3) g) "
    "TO STDOUT WITH (FORMAT csv, HEADER true)"
)
EXPECTED = 'n,label\n1,"x,1"\n2,"x,2"\n3,"x,3"\n'


def test_copy_to_stream_psycopg2(warehouse):
    buffer = io.BytesIO()
    with warehouse.cursor() as cursor:
        assert copy_to_stream(cursor, QUERY, buffer) == 3
    assert buffer.getvalue().decode() == EXPECTED


def test_copy_to_stream_psycopg3(sales_sandbox):
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg 3 is installed only where the postgres provider pulls it in"
    )
    buffer = io.BytesIO()
    with psycopg.connect(sales_sandbox.warehouse_uri) as connection, connection.cursor() as cursor:
        assert copy_to_stream(cursor, QUERY, buffer) == 3
    assert buffer.getvalue().decode() == EXPECTED


def test_copy_to_stream_error_names_the_problem(warehouse):
    with warehouse.cursor() as cursor, pytest.raises(Exception, match="no_such_table"):
        copy_to_stream(cursor, "COPY (SELECT * FROM no_such_table) TO STDOUT", io.BytesIO())
