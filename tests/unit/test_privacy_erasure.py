"""Forgetting a customer on a small, hand-made warehouse: every table that can hold them, nothing more, for good."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from trace_search import column_traces

from rapport import warehouse
from rapport.contract import get_table
from rapport.ingest import ingest
from rapport.pii import hash_pii
from rapport.trust.audit import subject_hash
from rapport.trust.erasure import ErasureRequest, customer_tables, forget_all, scrub_files

SALT = "erasure-test-salt"
CUSTOMER = {
    "customer_id": "C1",
    "email": "alice@example.com",
    "phone": "+33 6 12 34 56 78",
    "first_name": "Alice",
    "last_name": "Martin",
    "street_address": "12 rue des Lilas",
    "postal_code": "75011",
    "birth_year": "1984",
    "gender": "female",
    "signup_at": "2024-01-01 09:30:00",
    "signup_channel": "web",
    "loyalty_card_id": "L1",
    "updated_at": "2024-01-01 09:30:00",
}
# C10 shares a prefix with C1: erasing C1 must not touch it.
OTHERS = [
    {
        **CUSTOMER,
        "customer_id": "C10",
        "email": "c10@example.com",
        "phone": "+33 7 00 00 00 10",
        "loyalty_card_id": "L10",
    },
    {**CUSTOMER, "customer_id": "C2", "email": "c2@example.com", "phone": "", "loyalty_card_id": ""},
]
ORDER = {
    "order_id": "O1",
    "customer_id": "C1",
    "ordered_at": "2024-01-02 12:00:00",
    "channel": "web",
    "order_total": "10.50",
    "discount_amount": "0",
    "status": "completed",
    "updated_at": "2024-01-02 12:00:00",
}


def write_csv(landing: Path, table: str, day: str, rows: list[dict]) -> None:
    columns = get_table(table).column_names
    path = landing / table / f"{table}_{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)


def land_day_one(landing: Path) -> None:
    write_csv(landing, "customers", "2024-01-01", [CUSTOMER, *OTHERS])
    write_csv(
        landing,
        "orders",
        "2024-01-02",
        [
            ORDER,
            {**ORDER, "order_id": "O2", "customer_id": "C10"},
            {**ORDER, "order_id": "O3", "customer_id": "C2"},
            {**ORDER, "order_id": "O4", "status": "teleported"},  # C1's bad row: quarantined
        ],
    )
    contact = {
        "contacted_at": "2024-01-03 10:00:00",
        "reason": "question",
        "is_resolved": "true",
        "handle_seconds": "60",
    }
    write_csv(
        landing,
        "call_center_contacts",
        "2024-01-03",
        [
            {**contact, "contact_id": "K1", "phone": CUSTOMER["phone"]},
            {**contact, "contact_id": "K2", "phone": OTHERS[0]["phone"]},
        ],
    )
    visit = {"store_id": "S1", "visited_at": "2024-01-04 15:00:00", "dwell_minutes": "20"}
    write_csv(
        landing,
        "store_visits",
        "2024-01-04",
        [{**visit, "visit_id": "V1", "loyalty_card_id": "L1"}, {**visit, "visit_id": "V2", "loyalty_card_id": "L10"}],
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.setenv("RAPPORT_PII_SALT", SALT)
    monkeypatch.setenv("RAPPORT_ACTOR", "dpo@test")
    land_day_one(tmp_path / "landing")
    ingest()
    con = warehouse.connect()
    try:
        # Derived tables the way dbt and the scorers leave them, plus one added "tomorrow" by someone else.
        con.execute("create table marts.customer_360 as select customer_id, 1.0 as monetary from raw.customers")
        con.execute("create table marts.brand_new_mart (customer_id varchar, note varchar)")
        con.execute("insert into marts.brand_new_mart values ('C1', 'x'), ('C10', 'y')")
        con.execute(
            "insert into ml.churn_scores (customer_id, churn_probability, as_of_date, model_name) "
            "values ('C1', 0.9, date '2024-02-01', 'rapport-churn'), ('C10', 0.1, date '2024-02-01', 'rapport-churn')"
        )
        con.execute("create table ops.gate_results (suite varchar, details json)")
        con.execute("""insert into ops.gate_results values ('customer_360', '{"unexpected": ["C1", "C10"]}')""")
    finally:
        con.close()
    return tmp_path


def alice_values() -> list[str]:
    return ["C1", "L1", hash_pii(CUSTOMER["phone"], SALT, "phone"), hash_pii(CUSTOMER["email"], SALT, "email")]


def test_tables_are_discovered_not_listed(home):
    con = warehouse.connect()
    try:
        tables = customer_tables(con)
    finally:
        con.close()
    assert tables["marts.brand_new_mart"] == ["customer_id"]
    assert tables["quarantine.orders"] == ["customer_id"]
    assert tables["raw.call_center_contacts"] == ["phone_hash"]
    assert tables["raw.store_visits"] == ["loyalty_card_id"]
    assert "ops.audit_log" not in tables


def test_forget_removes_every_trace_and_only_that_customer(home):
    con = warehouse.connect()
    before = warehouse.row_counts(con)
    assert column_traces(con, alice_values())  # the fixture really holds Alice everywhere
    con.close()

    [result] = forget_all([ErasureRequest("C1", "REQ-1", "email")])

    con = warehouse.connect()
    try:
        assert column_traces(con, alice_values()) == []
        after = warehouse.row_counts(con)
        assert before["raw.customers"] - after["raw.customers"] == 1
        assert after["quarantine.orders"] == before["quarantine.orders"] - 1
        assert sorted(r[0] for r in con.execute("select customer_id from raw.orders").fetchall()) == ["C10", "C2"]
        assert con.execute("select contact_id from raw.call_center_contacts").fetchall() == [("K2",)]
        assert con.execute("select visit_id from raw.store_visits").fetchall() == [("V2",)]
        assert con.execute("select customer_id from marts.brand_new_mart").fetchall() == [("C10",)]
        details = json.loads(con.execute("select details from ops.gate_results").fetchone()[0])
        assert details == {"unexpected": ["[erased]", "C10"]}
        audit = con.execute("select action, subject_hash, request_id, actor, counts from ops.audit_log").fetchall()
    finally:
        con.close()
    assert result["rows_deleted"] == 9
    [(action, subject, request_id, actor, counts)] = audit
    assert (action, subject, request_id, actor) == ("erasure", subject_hash("C1", SALT), "REQ-1", "dpo@test")
    assert json.loads(counts)["raw.orders"] == 1


def test_forgotten_customer_stays_out_when_sources_send_them_again(home):
    forget_all([ErasureRequest("C1")])
    landing = home / "landing"
    write_csv(landing, "customers", "2024-01-05", [{**CUSTOMER, "updated_at": "2024-01-05 00:00:00"}])
    write_csv(
        landing, "orders", "2024-01-06", [{**ORDER, "order_id": "O9"}, {**ORDER, "order_id": "O8", "customer_id": "C2"}]
    )
    visit = {"store_id": "S1", "visited_at": "2024-01-07 15:00:00", "dwell_minutes": "5", "loyalty_card_id": "L1"}
    write_csv(landing, "store_visits", "2024-01-07", [{**visit, "visit_id": "V9"}])

    summary = ingest()

    con = warehouse.connect()
    try:
        assert column_traces(con, alice_values()) == []
        assert con.execute("select count(*) from raw.orders where order_id = 'O8'").fetchone()[0] == 1
    finally:
        con.close()
    assert summary.tables["orders"].rows_loaded == 1


def test_forgetting_twice_changes_nothing_more(home):
    forget_all([ErasureRequest("C1")])
    con = warehouse.connect()
    first = warehouse.row_counts(con)
    con.close()

    [again] = forget_all([ErasureRequest("C1")])

    con = warehouse.connect()
    try:
        second = warehouse.row_counts(con)
    finally:
        con.close()
    assert again["rows_deleted"] == 0
    assert {k: v for k, v in second.items() if k != "ops.audit_log"} == {
        k: v for k, v in first.items() if k != "ops.audit_log"
    }
    assert second["ops.audit_log"] == first["ops.audit_log"] + 1


def test_scrub_files_blanks_whole_ids_and_keeps_file_length(tmp_path):
    report = tmp_path / "reports" / "relationship_2024-02-01.html"
    report.parent.mkdir()
    report.write_text("<td>C1</td><td>C10</td><td>xC1</td>")
    untouched = tmp_path / "reports" / "other.html"
    untouched.write_text("<td>C10</td>")

    counts = scrub_files(["C1"], [tmp_path / "reports"])

    assert report.read_text() == "<td>##</td><td>C10</td><td>xC1</td>"
    assert untouched.read_text() == "<td>C10</td>"
    assert counts == {str(tmp_path / "reports"): 1}


def test_a_request_without_customer_id_is_refused(home):
    with pytest.raises(ValueError, match="customer id"):
        forget_all([ErasureRequest("  ")])
