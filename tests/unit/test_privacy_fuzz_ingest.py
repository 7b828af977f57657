"""Fuzzed landing files: ingestion never crashes on them and never loses a row (each lands in raw or quarantine)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.contract import get_table
from rapport.ingest import ingest

CUSTOMERS = get_table("customers")
# A lone carriage return inside a value is left out here: its own tests are below.
# Real-looking values mixed with anything text can hold: quotes, delimiters, newlines, NUL, emoji, padding.
VALUE = st.one_of(
    st.sampled_from(["", "C1", "C2", "2024-01-01 09:30:00", "web", "female", "1984", " 75011 ", "NULL"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=30),
)
ROW = st.fixed_dictionaries({c: VALUE for c in CUSTOMERS.column_names})
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(data: bytes) -> tuple[int, int]:
    """Ingest one customers landing file into a fresh in-memory warehouse; (raw rows, quarantined rows)."""
    with tempfile.TemporaryDirectory() as folder:
        landing = Path(folder)
        (landing / "customers").mkdir()
        (landing / "customers" / "customers_2024-01-01.csv").write_bytes(data)
        con = duckdb.connect()
        try:
            ingest(landing, con=con, max_rejected_share=1.0)
            return (
                con.execute("select count(*) from raw.customers").fetchone()[0],
                con.execute("select count(*) from quarantine.customers").fetchone()[0],
            )
        finally:
            con.close()


@FUZZ
@given(rows=st.lists(ROW, min_size=1, max_size=12))
def test_every_written_row_is_in_raw_or_quarantine(rows):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CUSTOMERS.column_names)
    writer.writerows([row[c] for c in CUSTOMERS.column_names] for row in rows)
    loaded, quarantined = load(buffer.getvalue().encode("utf-8"))
    assert loaded + quarantined == len(rows)


@FUZZ
@given(body=st.binary(max_size=400))
def test_arbitrary_bytes_after_a_valid_header_never_crash_ingestion(body):
    header = ",".join(CUSTOMERS.column_names).encode() + b"\n"
    loaded, quarantined = load(header + body)
    # at most one row per physical line (the csv module ends a line at \n, \r\n or a bare \r)
    assert loaded + quarantined <= body.count(b"\n") + body.count(b"\r") + 1


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL], ids=["as-written", "quoted"])
def test_a_carriage_return_inside_a_quoted_value_neither_adds_nor_loses_a_row(quoting):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n", quoting=quoting)
    writer.writerow(CUSTOMERS.column_names)
    writer.writerow(["C1", *[""] * 11, "a\rb"])
    writer.writerow(["C2", *[""] * 12])
    assert sum(load(buffer.getvalue().encode("utf-8"))) == 2
