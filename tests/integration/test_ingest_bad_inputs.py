"""Parquet exports whose schema differs from the contract: typed columns load, unknown shapes are refused with proof."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rapport.ingest import IngestError, ingest

ROWS = 40


@pytest.fixture
def landing(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    (tmp_path / "landing" / "customers").mkdir(parents=True)
    return tmp_path / "landing"


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def customers_frame(email_column: str = "email") -> pa.Table:
    signed = [dt.datetime(2024, 1, 1, 9, 30) + dt.timedelta(hours=i) for i in range(ROWS)]
    return pa.table(
        {
            "customer_id": [f"C{i}" for i in range(ROWS)],
            email_column: [f"person{i}@example.com" for i in range(ROWS)],
            "birth_year": pa.array([1980 + i % 30 for i in range(ROWS)], pa.int32()),
            "signup_at": pa.array(signed, pa.timestamp("us")),
            "signup_channel": ["web"] * ROWS,
            "updated_at": pa.array(signed, pa.timestamp("us")),
        }
    )


def test_typed_parquet_columns_are_read_as_text_and_checked(landing, con):
    pq.write_table(customers_frame(), landing / "customers" / "customers_2024-01-01.parquet")
    summary = ingest(landing, con=con)
    assert summary.rows_loaded == ROWS and summary.rows_rejected == 0
    birth, signed = con.execute("select birth_year, signup_at from raw.customers where customer_id = 'C1'").fetchone()
    assert (birth, signed) == (1981, dt.datetime(2024, 1, 1, 10, 30))


def test_a_renamed_parquet_column_rejects_the_file_naming_file_and_columns_and_keeps_every_row(landing, con):
    pq.write_table(customers_frame("mail_address"), landing / "customers" / "customers_2024-01-02.parquet")
    with pytest.raises(IngestError) as error:
        ingest(landing, con=con)
    message = str(error.value)
    assert "customers/customers_2024-01-02.parquet" in message
    assert "customers.mail_address: unknown column, not in the contract" in message
    assert "customers.email: required column is missing from the file" in message
    assert con.execute("select count(*) from raw.customers").fetchone()[0] == 0
    kept = con.execute(
        "select count(*), count(distinct _source_line), min(_reason) from quarantine.customers "
        "where _source_file = 'customers/customers_2024-01-02.parquet'"
    ).fetchone()
    assert kept[:2] == (ROWS, ROWS), "every row of the refused file is kept in quarantine"
    assert "customers.email: required column is missing" in kept[2]
    assert con.execute("select count(*) from raw._load_ledger").fetchone()[0] == 0, "the file can be sent again"


def test_a_file_that_is_not_parquet_is_refused_with_its_reason(landing, con):
    (landing / "customers" / "customers_2024-01-03.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(IngestError, match=r"customers_2024-01-03\.parquet.*unreadable Parquet file"):
        ingest(landing, con=con)
