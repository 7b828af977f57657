"""A mapping file turns a differently shaped export (other names, delimiter, codes, date format) into contract rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from rapport.ingest import ingest
from rapport.mapping import MappingError, load_mapping
from rapport.settings import CHECKOUT_ROOT

EXAMPLE = CHECKOUT_ROOT / "examples" / "mapping"


@pytest.fixture
def landing(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    shutil.copytree(EXAMPLE / "landing", tmp_path / "landing")
    return tmp_path / "landing"


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_the_example_export_loads_through_its_mapping(landing, con):
    summary = ingest(landing, con=con, mapping_file=EXAMPLE / "mapping.yaml")
    assert summary.rows_rejected == 0 and summary.rows_loaded == 6
    customers = con.execute(
        "select customer_id, gender, signup_channel, cast(signup_at as varchar) from raw.customers order by 1"
    ).fetchall()
    assert customers == [
        ("K1001", "female", "web", "2025-03-01 09:15:00"),
        ("K1002", "male", "store", "2025-03-01 11:40:00"),
        ("K1003", "other", "app", "2025-03-01 17:05:00"),
    ]
    orders = con.execute("select order_id, status, channel, order_total from raw.orders order by 1").fetchall()
    assert orders[2] == ("B5003", "returned", "app", 35.5)


def test_values_the_mapping_does_not_know_are_quarantined_with_their_reason(landing, con):
    path = landing / "customers" / "customers_2025-03-01.csv"
    path.write_text(
        path.read_text(encoding="utf-8") + "K1004;lea@example.de;;Lea;Roth;50667;Q;31.02.2025 08:00;Online;x\n",
        encoding="utf-8",
    )
    summary = ingest(landing, con=con, mapping_file=EXAMPLE / "mapping.yaml")
    assert summary.tables["customers"].rows_rejected == 1
    reason, line, source = con.execute(
        "select _reason, _source_line, _source_file from quarantine.customers"
    ).fetchone()
    assert "customers.gender: 'Q' is not one of" in reason
    assert "customers.signup_at: '31.02.2025 08:00' is not a timestamp" in reason
    assert (line, source) == (5, "customers/customers_2025-03-01.csv")


def test_without_the_mapping_the_export_is_rejected_naming_its_columns(landing, con):
    with pytest.raises(Exception, match=r"customers\.KundenNr: unknown column|delimited by ';'"):
        ingest(landing, con=con)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources:\n  clients: {}\n", r"sources\.clients: not a source table"),
        ("sources:\n  customers: {columns: {Nr: client_no}}\n", r"sources\.customers\.columns: 'client_no'"),
        ("sources:\n  customers: {date_formats: {gender: '%d'}}\n", r"'gender' is not a date or timestamp"),
        ("sources:\n  customers: {renames: {}}\n", r"unknown keys \['renames'\]"),
        ("customers: {}\n", "top-level 'sources:'"),
    ],
)
def test_a_wrong_mapping_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=message) as error:
        load_mapping(path)
    assert str(path) in str(error.value)


def test_the_data_contract_page_is_generated_from_the_current_contract():
    from rapport.contract_docs import DOC_PATH, render_contract_docs

    assert DOC_PATH.read_text(encoding="utf-8") == render_contract_docs(), (
        "docs/data-contract.md is stale: run .venv/bin/python -m rapport.contract_docs"
    )
    page = render_contract_docs()
    assert "### `deletion_requests`" in page and "`customers/customers_<YYYY-MM-DD>.csv`" in page
    assert "hashed at ingestion (salted SHA-256, stored as `email_hash`)" in page
