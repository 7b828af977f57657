import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rapport.contract import TABLES, get_table
from rapport.ingest import IngestError, ingest, tables_in_load_order
from rapport.pii import hash_pii
from rapport.settings import get_settings
from rapport.warehouse import connect

ALICE = {
    "customer_id": "C1",
    "email": "Alice.Martin@example.com",
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
BOB = {
    **ALICE,
    "customer_id": "C2",
    "email": "bob@example.org",
    "phone": "",
    "first_name": "Bob",
    "loyalty_card_id": "",
}
ORDER = {
    "order_id": "O1",
    "customer_id": "C1",
    "ordered_at": "2024-01-02 12:00:00",
    "channel": "web",
    "store_id": "",
    "order_total": "10.50",
    "discount_amount": "0",
    "status": "completed",
    "offer_id": "",
    "updated_at": "2024-01-02 12:00:00",
}


@pytest.fixture
def landing(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.setenv("RAPPORT_PII_SALT", "test-salt")
    return tmp_path / "landing"


@pytest.fixture
def con(landing):
    connection = duckdb.connect()
    yield connection
    connection.close()


def write_csv(landing: Path, table: str, day: str, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or get_table(table).column_names
    path = landing / table / f"{table}_{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return path


def write_customers(landing: Path, day: str = "2024-01-01") -> None:
    write_csv(landing, "customers", day, [ALICE, BOB])


def rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quarantined(con, table: str) -> list[dict]:
    return rows(con, f"select * from quarantine.{table} order by _source_file, _source_line")


def test_good_files_load_with_types_and_metadata(landing, con):
    write_customers(landing)
    write_csv(
        landing,
        "orders",
        "2024-01-02",
        [
            ORDER,
            {**ORDER, "order_id": "O2", "ordered_at": "2024-01-02T13:00:00Z"},
            {**ORDER, "order_id": "O3", "ordered_at": "2024-01-02T16:00:00+02:00"},
        ],
    )

    summary = ingest(landing, con)

    assert summary.tables["customers"].rows_loaded == 2
    assert summary.tables["orders"].rows_loaded == 3
    assert json.loads(json.dumps(summary.as_dict()))["rows_rejected"] == 0
    orders = rows(con, "select * from raw.orders order by order_id")
    assert orders[0]["order_total"] == pytest.approx(10.5)
    assert orders[0]["ordered_at"] == dt.datetime(2024, 1, 2, 12)
    assert orders[1]["ordered_at"] == dt.datetime(2024, 1, 2, 13)
    assert orders[2]["ordered_at"] == dt.datetime(2024, 1, 2, 14)
    assert orders[0]["store_id"] is None
    assert orders[0]["_source_file"] == "orders/orders_2024-01-02.csv"
    assert [o["_source_line"] for o in orders] == [2, 3, 4]
    assert orders[0]["_load_id"] == summary.load_id
    assert isinstance(orders[0]["_loaded_at"], dt.datetime)
    columns = [r[0] for r in con.execute("describe raw.customers").fetchall()]
    assert columns[:3] == ["customer_id", "email_hash", "phone_hash"]
    assert "first_name" not in columns and "street_address" not in columns
    assert columns[-4:] == ["_load_id", "_source_file", "_source_line", "_loaded_at"]
    (birth_year,) = con.execute("select birth_year from raw.customers where customer_id = 'C1'").fetchone()
    assert birth_year == 1984


def test_personal_data_is_hashed_and_never_stored_in_clear(landing, con):
    bad_alice = {**ALICE, "customer_id": "C9", "gender": "robot"}
    write_csv(landing, "customers", "2024-01-01", [ALICE, BOB, bad_alice])

    ingest(landing, con, max_rejected_share=1.0)

    (email_hash,) = con.execute("select email_hash from raw.customers where customer_id = 'C1'").fetchone()
    assert email_hash == hash_pii(ALICE["email"], get_settings().pii_salt)
    assert email_hash == hash_pii("alice.martin@example.com ", "test-salt")
    (phone_hash,) = con.execute("select phone_hash from raw.customers where customer_id = 'C1'").fetchone()
    assert phone_hash == hash_pii("+33612345678", "test-salt")
    quarantine = quarantined(con, "customers")
    assert quarantine[0]["email_hash"] == email_hash
    clear = [ALICE["email"].lower(), ALICE["email"], "Martin", "Alice", "rue des Lilas", "612345678"]
    for table in ("raw.customers", "quarantine.customers"):
        for row in rows(con, f"select * from {table}"):
            for value in row.values():
                assert not any(secret in str(value) for secret in clear), (table, value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"order_total": "-5.0"}, "orders.order_total: -5.0 is below minimum 0"),
        ({"ordered_at": "not-a-date"}, "orders.ordered_at: 'not-a-date' is not a timestamp"),
        ({"customer_id": "C999"}, "orders.customer_id: unknown customer 'C999'"),
        ({"status": "shipped"}, "orders.status: 'shipped' is not one of completed, returned, cancelled"),
        ({"channel": ""}, "orders.channel: required value is missing"),
        ({"discount_amount": "1,5"}, "orders.discount_amount: '1,5' is not a decimal number"),
        ({"offer_id": "X1"}, "orders.offer_id: unknown offer 'X1'"),
    ],
)
def test_bad_rows_are_quarantined_with_reason_and_line(landing, con, change, reason):
    write_customers(landing)
    good = [{**ORDER, "order_id": f"G{i}"} for i in range(3)]
    write_csv(landing, "orders", "2024-01-02", [*good, {**ORDER, "order_id": "B1", **change}])

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 3
    assert summary.tables["orders"].rows_rejected == 1
    (bad,) = quarantined(con, "orders")
    assert reason in bad["_reason"]
    assert bad["_source_line"] == 5
    assert bad["_source_file"] == "orders/orders_2024-01-02.csv"
    assert bad["order_id"] == "B1"
    assert con.execute("select count(*) from raw.orders where order_id = 'B1'").fetchone() == (0,)


def test_several_bad_fields_make_one_row_with_joined_reasons(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER, ORDER | {"order_id": "O2", "order_total": "-1", "status": "x"}])

    ingest(landing, con)

    (bad,) = quarantined(con, "orders")
    assert bad["_reason"].split("; ") == [
        "orders.order_total: -1 is below minimum 0",
        "orders.status: 'x' is not one of completed, returned, cancelled",
    ]


def test_rerun_is_idempotent(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER, {**ORDER, "order_id": "O2", "customer_id": "C999"}])

    first = ingest(landing, con)
    second = ingest(landing, con)

    assert first.files_loaded == 2 and second.files_loaded == 0 and second.files_skipped == 2
    assert con.execute("select count(*) from raw.orders").fetchone() == (1,)
    assert con.execute("select count(*) from quarantine.orders").fetchone() == (1,)
    ledger = rows(con, "select * from raw._load_ledger order by source_file")
    assert [(r["source_file"], r["rows_loaded"], r["rows_rejected"]) for r in ledger] == [
        ("customers/customers_2024-01-01.csv", 2, 0),
        ("orders/orders_2024-01-02.csv", 1, 1),
    ]


@pytest.mark.parametrize("separate_runs", [False, True])
def test_corrected_order_in_a_later_file_is_appended_next_to_the_older_version(landing, con, separate_runs):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER, {**ORDER, "order_id": "O2"}])
    if separate_runs:
        ingest(landing, con)
    corrected = {**ORDER, "status": "returned", "updated_at": "2024-01-05 08:00:00"}
    write_csv(landing, "orders", "2024-01-05", [corrected])

    ingest(landing, con)

    orders = rows(con, "select order_id, status, _source_file from raw.orders order by order_id, updated_at")
    assert orders == [
        {"order_id": "O1", "status": "completed", "_source_file": "orders/orders_2024-01-02.csv"},
        {"order_id": "O1", "status": "returned", "_source_file": "orders/orders_2024-01-05.csv"},
        {"order_id": "O2", "status": "completed", "_source_file": "orders/orders_2024-01-02.csv"},
    ]
    assert quarantined(con, "orders") == []


def test_an_older_version_arriving_late_is_kept_as_history(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-05", [{**ORDER, "status": "returned", "updated_at": "2024-01-05 08:00:00"}])
    ingest(landing, con)
    write_csv(landing, "orders", "2024-01-06", [ORDER])

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 1 and summary.tables["orders"].rows_resent == 0
    assert con.execute("select status from raw.orders order by updated_at").fetchall() == [
        ("completed",),
        ("returned",),
    ]


@pytest.mark.parametrize("separate_runs", [False, True])
def test_a_version_resent_in_a_later_file_is_stored_once(landing, con, separate_runs):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER])
    if separate_runs:
        ingest(landing, con)
    write_csv(landing, "orders", "2024-01-03", [ORDER, {**ORDER, "order_id": "O2"}])

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_resent == 1
    stored = rows(con, "select order_id, _source_file from raw.orders order by order_id")
    assert stored == [
        {"order_id": "O1", "_source_file": "orders/orders_2024-01-02.csv"},
        {"order_id": "O2", "_source_file": "orders/orders_2024-01-03.csv"},
    ]
    assert quarantined(con, "orders") == []


def test_customers_of_the_same_run_satisfy_the_reference(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER])
    ingest(landing, con)
    write_csv(landing, "customers", "2024-01-03", [{**ALICE, "customer_id": "C3"}])
    write_csv(
        landing, "orders", "2024-01-03", [{**ORDER, "order_id": "O3", "customer_id": "C3"}, ORDER | {"order_id": "O4"}]
    )

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 2
    assert quarantined(con, "orders") == []


def test_duplicate_key_within_a_file(landing, con):
    write_customers(landing)
    event = {"interaction_id": "I1", "customer_id": "C1", "channel": "email", "interaction_type": "opened"}
    event["occurred_at"] = "2024-01-02 10:00:00"
    write_csv(landing, "interactions", "2024-01-02", [event, {**event, "interaction_id": "I2"}, event])

    summary = ingest(landing, con)

    assert summary.tables["interactions"].rows_loaded == 2
    (bad,) = quarantined(con, "interactions")
    assert "interactions.interaction_id: duplicate key 'I1'" in bad["_reason"]
    assert bad["_source_line"] == 4


def test_duplicate_of_an_already_loaded_key_is_quarantined(landing, con):
    write_customers(landing)
    event = {"survey_id": "S1", "customer_id": "C1", "answered_at": "2024-01-02 10:00:00", "score": "9"}
    write_csv(landing, "nps_surveys", "2024-01-02", [event])
    ingest(landing, con)
    write_csv(landing, "nps_surveys", "2024-01-03", [event, {**event, "survey_id": "S2"}])

    ingest(landing, con)

    (bad,) = quarantined(con, "nps_surveys")
    assert "duplicate key 'S1' (already loaded from nps_surveys/nps_surveys_2024-01-02.csv line 2)" in bad["_reason"]


def test_two_versions_in_one_file_are_both_kept_and_an_exact_copy_is_quarantined(landing, con):
    write_customers(landing)
    newer = {**ORDER, "status": "cancelled", "updated_at": "2024-01-02 13:00:00"}
    write_csv(landing, "orders", "2024-01-02", [newer, ORDER, newer])

    ingest(landing, con)

    assert con.execute("select status from raw.orders order by updated_at").fetchall() == [
        ("completed",),
        ("cancelled",),
    ]
    (bad,) = quarantined(con, "orders")
    assert bad["_source_line"] == 4
    assert "orders.order_id: duplicate key 'O1' with the same updated_at (kept line 2)" in bad["_reason"]


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ([c for c in get_table("orders").column_names if c != "status"], "orders.status: required column is missing"),
        ([*get_table("orders").column_names, "coupon"], "orders.coupon: unknown column, not in the contract"),
    ],
)
def test_file_with_missing_or_extra_column_is_quarantined_whole(landing, con, columns, reason):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER, {**ORDER, "order_id": "O2"}], columns=columns)

    summary = ingest(landing, con, max_rejected_share=1.0)

    assert summary.tables["orders"].rows_rejected == 2
    bad = quarantined(con, "orders")
    assert [b["_source_line"] for b in bad] == [2, 3]
    assert all(reason in b["_reason"] for b in bad)
    assert con.execute("select count(*) from raw.orders").fetchone() == (0,)


def test_non_utf8_rows_are_quarantined_with_their_line(landing, con):
    write_customers(landing)
    path = write_csv(landing, "orders", "2024-01-02", [ORDER, {**ORDER, "order_id": "O2"}, {**ORDER, "order_id": "O3"}])
    path.write_bytes(path.read_bytes().replace(b"O2,", b"O\xe92,"))

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 2
    (bad,) = quarantined(con, "orders")
    assert bad["_source_line"] == 3
    assert bad["_reason"] == "orders: line 3 is not valid UTF-8"
    (note,) = con.execute("select note from raw._load_ledger where table_name = 'orders'").fetchone()
    assert note == "not valid UTF-8 from line 3"


def test_truncated_last_line_is_quarantined(landing, con):
    write_customers(landing)
    path = write_csv(landing, "orders", "2024-01-02", [ORDER, {**ORDER, "order_id": "O2"}, {**ORDER, "order_id": "O3"}])
    path.write_bytes(path.read_bytes()[:-40])

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 2
    (bad,) = quarantined(con, "orders")
    assert bad["_source_line"] == 4
    assert bad["_reason"].startswith("orders: line 4 has ")


def test_wrong_delimiter_is_named(landing, con):
    write_customers(landing)
    path = write_csv(landing, "orders", "2024-01-02", [ORDER])
    path.write_text(path.read_text().replace(",", ";"))

    with pytest.raises(IngestError, match="orders/orders_2024-01-02.csv: 1 of 1 rows rejected"):
        ingest(landing, con)

    (bad,) = quarantined(con, "orders")
    assert bad["_reason"] == "orders: file is delimited by ';', expected ','"


def test_empty_and_header_only_files_are_recorded_with_zero_rows(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [])
    (landing / "orders" / "orders_2024-01-03.csv").write_bytes(b"")

    summary = ingest(landing, con)
    again = ingest(landing, con)

    assert summary.tables["orders"].files == 2 and summary.tables["orders"].rows_loaded == 0
    assert again.files_loaded == 0
    ledger = rows(con, "select * from raw._load_ledger where table_name = 'orders' order by source_file")
    assert [(r["rows_loaded"], r["rows_rejected"], r["note"]) for r in ledger] == [
        (0, 0, "header only"),
        (0, 0, "empty file"),
    ]


def test_rejected_share_over_the_limit_rolls_back_the_whole_run(landing, con):
    write_customers(landing)
    write_csv(landing, "orders", "2024-01-02", [ORDER])
    ingest(landing, con)
    write_csv(landing, "customers", "2024-01-03", [{**ALICE, "customer_id": "C3"}])
    bad = [{**ORDER, "order_id": f"B{i}", "order_total": "-1"} for i in range(3)]
    write_csv(landing, "orders", "2024-01-03", [*bad, {**ORDER, "order_id": "O2"}])
    before = {t: con.execute(f"select count(*) from {t}").fetchone() for t in ("raw.customers", "raw.orders")}

    with pytest.raises(IngestError) as error:
        ingest(landing, con)

    message = str(error.value)
    assert "orders/orders_2024-01-03.csv: 3 of 4 rows rejected" in message
    assert "line 2: orders.order_total: -1 is below minimum 0" in message
    after = {t: con.execute(f"select count(*) from {t}").fetchone() for t in ("raw.customers", "raw.orders")}
    assert after == before
    assert con.execute("select count(*) from raw._load_ledger").fetchone() == (2,)
    assert len(quarantined(con, "orders")) == 3
    with pytest.raises(IngestError):
        ingest(landing, con)
    assert len(quarantined(con, "orders")) == 3


def test_quoted_newlines_keep_physical_line_numbers(landing, con):
    write_customers(landing)
    write_csv(
        landing,
        "products",
        "2024-01-01",
        [
            {
                "product_id": "P1",
                "product_name": "Dress",
                "category": "Dresses",
                "list_price": "50",
                "margin_rate": "0.4",
                "updated_at": "2024-01-01 00:00:00",
            }
        ],
    )
    review = {
        "review_id": "R1",
        "customer_id": "C1",
        "product_id": "P1",
        "reviewed_at": "2024-01-02 10:00:00",
        "rating": "5",
        "title": "",
        "review_text": "Lovely.\nFits well.\n",
    }
    write_csv(landing, "reviews", "2024-01-02", [review, {**review, "review_id": "R2", "rating": "9"}])

    ingest(landing, con)

    (loaded,) = rows(con, "select review_text, _source_line from raw.reviews")
    assert loaded == {"review_text": "Lovely.\nFits well.\n", "_source_line": 2}
    (bad,) = quarantined(con, "reviews")
    assert bad["_source_line"] == 5 and "reviews.rating: 9 is above maximum 5" in bad["_reason"]


def test_a_lone_carriage_return_is_a_character_of_its_value_not_a_line_break(landing, con):
    path = landing / "customers" / "customers_2024-01-01.csv"
    path.parent.mkdir(parents=True)
    header = ",".join(get_table("customers").column_names)
    alice = ",".join(ALICE[c] for c in get_table("customers").column_names).replace("75011", '"750\r11"')
    bob = ",".join(BOB[c] for c in get_table("customers").column_names).replace("75011", "75\r011")
    # CRLF line endings, a lone CR quoted in one value and bare in another, a bad row after them
    path.write_bytes(f"{header}\r\n{alice}\r\n{bob}\r\nC3,broken\r\n".encode())

    ingest(landing, con)

    loaded = rows(con, "select customer_id, postal_code, _source_line from raw.customers order by 1")
    assert loaded == [
        {"customer_id": "C1", "postal_code": "750\r11", "_source_line": 2},
        {"customer_id": "C2", "postal_code": "75\r011", "_source_line": 3},
    ]
    (bad,) = quarantined(con, "customers")
    assert bad["_source_line"] == 4 and "line 4 has 2 fields" in bad["_reason"]


def test_parquet_files_are_read_too(landing, con):
    write_customers(landing)
    path = landing / "orders" / "orders_2024-01-02.parquet"
    path.parent.mkdir(parents=True)
    frame = pa.table({k: [v, v] for k, v in ORDER.items()}).set_column(0, "order_id", pa.array(["O1", "O2"]))
    pq.write_table(frame, path)

    summary = ingest(landing, con)

    assert summary.tables["orders"].rows_loaded == 2
    assert con.execute("select max(_source_line) from raw.orders").fetchone() == (2,)


def test_load_order_puts_referenced_tables_first():
    order = [t.name for t in tables_in_load_order()]
    assert order[0] == "customers"
    assert order.index("offers") < order.index("orders") < order.index("order_items")
    assert order.index("campaigns") < order.index("offer_responses")
    assert len(order) == len(set(order)) == len(TABLES)


def test_without_a_connection_it_opens_the_warehouse_from_settings(landing):
    write_customers(landing)

    summary = ingest(landing)

    with connect(read_only=True) as warehouse:
        assert warehouse.execute("select count(*) from raw.customers").fetchone() == (summary.rows_loaded,)
