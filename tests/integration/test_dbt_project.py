"""The dbt project built on a hand-made raw fixture; expectations are recomputed here in pandas."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from rapport.contract import SQL_TYPES, TABLES
from rapport.transform import build

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = date(2026, 11, 1)
CUTOFF = date(2026, 6, 1)
HORIZON_DAYS = 90
LOAD_ID = "fixture-load"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ``raw.*`` table of the contract, typed, with load metadata."""
    con.execute("create schema if not exists raw")
    for table in TABLES:
        columns = [f"{c.raw_name} {SQL_TYPES[c.type]}" for c in table.raw_columns]
        columns += ["_load_id varchar", "_source_file varchar", "_source_line bigint", "_loaded_at timestamp"]
        con.execute(f"create or replace table raw.{table.name} ({', '.join(columns)})")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    frame["_load_id"] = LOAD_ID
    frame["_source_file"] = f"{table}.csv"
    frame["_source_line"] = range(2, len(frame) + 2)
    frame["_loaded_at"] = ts("2026-11-01 02:00:00")
    con.register("_rows", frame)
    con.execute(f"insert into raw.{table} by name select * from _rows")
    con.unregister("_rows")


def customer(customer_id: str, signup: str, card: str | None = None, phone: str | None = None) -> dict:
    return {
        "customer_id": customer_id,
        "email_hash": f"email-{customer_id}",
        "phone_hash": phone,
        "postal_code": "75001",
        "birth_year": 1990,
        "gender": "unknown",
        "signup_at": ts(signup),
        "signup_channel": "web",
        "loyalty_card_id": card,
        "updated_at": ts(signup),
    }


CUSTOMERS = [
    customer("c1", "2024-01-10 09:00:00", card="L1", phone="P1"),
    customer("c2", "2025-03-01 12:00:00"),
    customer("c3", "2023-05-01 08:00:00"),
    customer("c4", "2026-10-15 08:00:00"),
    customer("c5", "2026-12-01 08:00:00"),
    customer("c6", "2025-01-01 08:00:00"),
    customer("c7", "2025-02-01 08:00:00"),
    customer("c8", "2026-01-01 08:00:00"),
]

# (order_id, customer_id, ordered_at, order_total, discount_amount, status)
ORDERS = [
    ("o01", "c1", "2025-12-01 10:00:00", 40.0, 0.0, "completed"),
    ("o02", "c1", "2026-03-10 10:00:00", 60.0, 10.0, "returned"),
    ("o03", "c1", "2026-07-01 10:00:00", 80.0, 0.0, "completed"),
    ("o04", "c1", "2026-09-15 10:00:00", 50.0, 5.0, "completed"),
    ("o05", "c1", "2026-10-20 10:00:00", 100.0, 0.0, "completed"),
    ("o06", "c1", "2026-10-30 10:00:00", 999.0, 0.0, "cancelled"),
    ("o07", "c2", "2025-08-01 10:00:00", 20.0, 0.0, "completed"),
    ("o08", "c2", "2026-01-15 10:00:00", 30.0, 0.0, "completed"),
    ("o09", "c3", "2024-06-01 10:00:00", 500.0, 0.0, "completed"),
    ("o10", "c6", "2026-05-20 10:00:00", 200.0, 0.0, "completed"),
    ("o11", "c6", "2026-07-10 10:00:00", 10.0, 0.0, "cancelled"),
    ("o12", "c7", "2026-04-01 10:00:00", 70.0, 0.0, "completed"),
    ("o13", "c7", "2026-07-15 10:00:00", 25.0, 0.0, "returned"),
    ("o14", "c8", "2026-10-28 10:00:00", 15.0, 0.0, "completed"),
    ("o15", "c2", "2026-07-20 10:00:00", 45.0, 0.0, "completed"),
    ("o16", "c3", "2026-05-25 10:00:00", 35.0, 0.0, "completed"),
]
# Orders first recorded after they were placed (a late store sync): unknown before that time.
FIRST_RECORDED = {"o16": "2026-06-03 09:00:00"}
# Later versions of an order (order_id, updated_at, status): corrections re-sent by the source.
CORRECTIONS = [
    ("o12", "2026-06-15 09:00:00", "cancelled"),  # completed before CUTOFF, cancelled after it
    ("o15", "2026-10-01 09:00:00", "cancelled"),  # completed in c2's label window, cancelled after it closed
]


def order_rows() -> list[dict]:
    """Every version of every order, as ingestion keeps them in raw (append-only)."""
    first = {
        order_id: {
            "order_id": order_id,
            "customer_id": customer_id,
            "ordered_at": ts(ordered_at),
            "channel": "web",
            "store_id": None,
            "order_total": total,
            "discount_amount": discount,
            "status": status,
            "offer_id": None,
            "updated_at": ts(FIRST_RECORDED.get(order_id, ordered_at)),
        }
        for order_id, customer_id, ordered_at, total, discount, status in ORDERS
    }
    corrected = [
        {**first[order_id], "status": status, "updated_at": ts(updated_at)}
        for order_id, updated_at, status in CORRECTIONS
    ]
    return [*first.values(), *corrected]


def orders_known_at(at: datetime) -> pd.DataFrame:
    """Per order, the version written before ``at``; orders first recorded later are absent."""
    versions = pd.DataFrame(order_rows())
    known = versions[versions["updated_at"] < at].sort_values("updated_at")
    return known.groupby("order_id").last().reset_index()


def web_event(event_id: str, device: str, customer_id: str | None, event_type: str, at: str) -> dict:
    return {
        "event_id": event_id,
        "device_id": device,
        "customer_id": customer_id,
        "event_type": event_type,
        "product_id": None,
        "occurred_at": ts(at),
    }


def load_fixture(con: duckdb.DuckDBPyConnection) -> None:
    create_raw_tables(con)
    insert_rows(con, "customers", CUSTOMERS)
    insert_rows(con, "orders", order_rows())
    insert_rows(con, "products", [{
        "product_id": "p1", "product_name": "Dress", "category": "Dresses", "list_price": 50.0,
        "margin_rate": 0.4, "updated_at": ts("2024-01-01 00:00:00"),
    }])  # fmt: skip
    insert_rows(con, "order_items", [{
        "order_item_id": "o05-1", "order_id": "o05", "product_id": "p1", "quantity": 2,
        "unit_price": 50.0, "ordered_at": ts("2026-10-20 10:00:00"),
    }])  # fmt: skip
    insert_rows(con, "web_events", [
        web_event("w1", "d1", None, "page_view", "2026-05-01 10:00:00"),
        web_event("w2", "d1", None, "product_view", "2026-10-01 10:00:00"),
        web_event("w3", "d1", "c1", "login", "2026-10-05 10:00:00"),
        web_event("w4", "d9", None, "page_view", "2026-10-05 10:00:00"),
    ])  # fmt: skip
    insert_rows(con, "app_events", [{
        "event_id": "a1", "device_id": "i1", "customer_id": "c2", "platform": "ios",
        "event_type": "screen_view", "product_id": None, "occurred_at": ts("2026-10-02 10:00:00"),
    }])  # fmt: skip
    insert_rows(con, "store_visits", [
        {"visit_id": "v1", "loyalty_card_id": "L1", "store_id": "s1", "visited_at": ts("2026-10-10 15:00:00"), "dwell_minutes": 20},
        {"visit_id": "v2", "loyalty_card_id": "L9", "store_id": "s1", "visited_at": ts("2026-10-10 15:00:00"), "dwell_minutes": 5},
    ])  # fmt: skip
    insert_rows(con, "call_center_contacts", [{
        "contact_id": "k1", "phone_hash": "P1", "contacted_at": ts("2026-09-01 11:00:00"), "reason": "complaint",
        "is_resolved": False, "handle_seconds": 300,
    }])  # fmt: skip
    insert_rows(con, "interactions", [
        {"interaction_id": f"i{n}", "customer_id": "c1", "channel": channel, "interaction_type": kind,
         "campaign_id": "k1", "occurred_at": ts(at)}
        for n, (channel, kind, at) in enumerate([
            ("email", "sent", "2026-10-20 08:00:00"),
            ("email", "opened", "2026-10-20 09:00:00"),
            ("email", "clicked", "2026-10-20 09:01:00"),
            ("sms", "unsubscribed", "2026-10-25 09:00:00"),
        ])
    ])  # fmt: skip
    insert_rows(
        con,
        "community_activity",
        [
            {
                "activity_id": "m1",
                "customer_id": "c2",
                "activity_type": "post",
                "occurred_at": ts("2026-10-01 10:00:00"),
            },
        ],
    )
    insert_rows(con, "offers", [{
        "offer_id": "of1", "offer_type": "discount", "channel": "email", "unit_cost": 5.0,
        "description": "10% off", "updated_at": ts("2026-01-01 00:00:00"),
    }])  # fmt: skip
    insert_rows(con, "campaigns", [{
        "campaign_id": "k1", "offer_id": "of1", "campaign_name": "Summer", "started_at": ts("2026-06-01 10:00:00"),
        "control_share": 0.2,
    }])  # fmt: skip
    insert_rows(con, "offer_responses", [
        {"assignment_id": "as1", "campaign_id": "k1", "customer_id": "c1", "offer_id": "of1",
         "assignment_group": "treatment", "sent_at": ts("2026-06-01 10:00:00"), "has_responded": True,
         "responded_at": ts("2026-06-20 10:00:00")},
        {"assignment_id": "as2", "campaign_id": "k1", "customer_id": "c2", "offer_id": "of1",
         "assignment_group": "control", "sent_at": ts("2026-06-01 10:00:00"), "has_responded": False,
         "responded_at": None},
        {"assignment_id": "as3", "campaign_id": "k1", "customer_id": "c3", "offer_id": "of1",
         "assignment_group": "treatment", "sent_at": ts("2026-06-01 10:00:00"), "has_responded": True,
         "responded_at": ts("2026-07-01 10:00:00")},  # 30 days later: outside the response window
    ])  # fmt: skip
    insert_rows(
        con,
        "nps_surveys",
        [
            {"survey_id": "n1", "customer_id": "c1", "answered_at": ts("2026-03-01 10:00:00"), "score": 9},
            {"survey_id": "n2", "customer_id": "c1", "answered_at": ts("2026-10-01 10:00:00"), "score": 5},
        ],
    )
    insert_rows(con, "reviews", [
        {"review_id": "r1", "customer_id": "c1", "product_id": "p1", "reviewed_at": ts("2026-02-01 10:00:00"),
         "rating": 4, "title": None, "review_text": "Lovely."},
        {"review_id": "r2", "customer_id": "c1", "product_id": "p1", "reviewed_at": ts("2026-10-22 10:00:00"),
         "rating": 2, "title": None, "review_text": "Too small."},
    ])  # fmt: skip
    insert_rows(
        con,
        "loyalty_tiers",
        [
            {"customer_id": "c1", "tier": "silver", "valid_from": ts("2025-01-01 00:00:00"), "points_balance": 100},
            {"customer_id": "c1", "tier": "gold", "valid_from": ts("2026-09-01 00:00:00"), "points_balance": 900},
        ],
    )
    insert_rows(con, "consents", [
        {"consent_id": f"g{n}", "customer_id": customer_id, "purpose": purpose, "channel": channel,
         "is_granted": granted, "recorded_at": ts(at)}
        for n, (customer_id, purpose, channel, granted, at) in enumerate([
            ("c1", "analytics", "all", True, "2024-01-10 09:00:00"),
            ("c1", "profiling", "all", True, "2024-01-10 09:00:00"),
            ("c1", "marketing", "email", True, "2024-01-10 09:00:00"),
            ("c1", "marketing", "sms", True, "2024-01-10 09:00:00"),
            ("c1", "marketing", "sms", False, "2026-10-01 09:00:00"),
            ("c2", "profiling", "all", True, "2025-03-01 12:00:00"),
            ("c2", "profiling", "all", False, "2026-02-01 12:00:00"),
        ])
    ])  # fmt: skip


def ntile(values: pd.Series, buckets: int = 5) -> pd.Series:
    """SQL ntile over ``values`` already sorted: the first ``n % buckets`` buckets get one extra row."""
    n = len(values)
    sizes = [n // buckets + (1 if i < n % buckets else 0) for i in range(buckets)]
    labels = [bucket + 1 for bucket, size in enumerate(sizes) for _ in range(size)]
    return pd.Series(labels, index=values.index)


def expected_order_features(as_of: date) -> pd.DataFrame:
    """Recency, frequency, monetary and RFM scores recomputed from the fixture lists."""
    as_of_at = datetime.combine(as_of, datetime.min.time())
    customers = pd.DataFrame(CUSTOMERS)
    customers = customers[customers["signup_at"] < as_of_at]
    orders = orders_known_at(as_of_at).rename(columns={"order_total": "total"})
    orders = orders[(orders["ordered_at"] < as_of_at) & orders["status"].isin(["completed", "returned"])]
    rows = []
    for customer_id in customers["customer_id"]:
        own = orders[orders["customer_id"] == customer_id]
        row = {"customer_id": customer_id}
        row["recency_days"] = (as_of - own["ordered_at"].max().date()).days if len(own) else None
        for days in (30, 90, 180, 365):
            window = own[own["ordered_at"] >= as_of_at - timedelta(days=days)]
            row[f"frequency_{days}d"] = len(window)
            row[f"monetary_{days}d"] = float(window.loc[window["status"] == "completed", "total"].sum())
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("customer_id").sort_index()
    active = frame[frame["frequency_365d"] > 0].reset_index()
    scores = pd.DataFrame(index=frame.index, data={"r": 1, "f": 1, "m": 1})
    for column, key, ascending in (
        ("r", "recency_days", False),
        ("f", "frequency_365d", True),
        ("m", "monetary_365d", True),
    ):
        ordered = active.sort_values([key, "customer_id"], ascending=[ascending, True])
        scores.loc[ordered["customer_id"], column] = ntile(ordered["customer_id"]).to_numpy()
    return frame.join(scores)


@pytest.fixture(scope="module")
def built_warehouse(module_home):
    """Build the whole project once on the fixture; yields (read-only connection, build summary)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAPPORT_CHURN_HORIZON_DAYS", str(HORIZON_DAYS))
        warehouse = module_home / "warehouse.duckdb"
        con = duckdb.connect(str(warehouse))
        load_fixture(con)
        con.close()
        summary = build(AS_OF, feature_cutoffs=[CUTOFF, AS_OF])
        read = duckdb.connect(str(warehouse), read_only=True)
        yield read, summary
        read.close()


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_build_reports_models_and_tests(built_warehouse):
    _, summary = built_warehouse
    assert summary["models"] >= 17 + 5 + 4
    assert summary["tests"] > 50
    assert summary["invocation_id"]
    assert summary["seconds"] > 0


def test_models_land_in_layer_schemas(built_warehouse):
    con, _ = built_warehouse
    found = query(con, "select table_schema, table_name from information_schema.tables")
    schemas = found.groupby("table_name")["table_schema"].first().to_dict()
    assert schemas["stg_shop__customers"] == "staging"
    assert schemas["stg_web__events"] == "staging"
    assert schemas["int_touchpoints"] == "intermediate"
    assert schemas["customer_360"] == "marts"
    assert schemas["ml_customer_features"] == "marts"
    assert not any(schema.startswith("main_") for schema in found["table_schema"])


def test_customer_360_matches_independent_rfm(built_warehouse):
    con, _ = built_warehouse
    actual = query(con, "select * from marts.customer_360").set_index("customer_id").sort_index()
    expected = expected_order_features(AS_OF)
    assert list(actual.index) == list(expected.index)
    assert "c5" not in actual.index  # signed up after the as-of date
    assert (actual["as_of_date"].astype(str) == AS_OF.isoformat()).all()
    for column in ("frequency_30d", "frequency_90d", "frequency_365d"):
        assert actual[column].tolist() == expected[column].tolist(), column
    for column in ("monetary_30d", "monetary_90d", "monetary_365d"):
        assert actual[column].tolist() == pytest.approx(expected[column].tolist()), column
    assert actual["recency_days"].astype("Float64").tolist() == expected["recency_days"].astype("Float64").tolist()
    assert actual["rfm_recency_score"].tolist() == expected["r"].tolist()
    assert actual["rfm_frequency_score"].tolist() == expected["f"].tolist()
    assert actual["rfm_monetary_score"].tolist() == expected["m"].tolist()


def test_customer_360_hand_checked_customer(built_warehouse):
    con, _ = built_warehouse
    c1 = query(con, "select * from marts.customer_360 where customer_id = 'c1'").iloc[0]
    assert c1["recency_days"] == 12  # 2026-10-20 -> 2026-11-01; the cancelled order of 10-30 does not count
    assert c1["frequency_365d"] == 5 and c1["monetary_365d"] == pytest.approx(270.0)
    assert c1["avg_order_value_365d"] == pytest.approx(270.0 / 4)
    assert c1["tenure_days"] == (AS_OF - date(2024, 1, 10)).days
    assert c1["web_events_90d"] == 2  # one anonymous event resolved through the device, one logged in
    assert c1["store_visits_90d"] == 1 and c1["call_center_contacts_180d"] == 1 and c1["complaints_180d"] == 1
    assert c1["email_opens_90d"] == 1 and c1["email_clicks_90d"] == 1
    assert c1["latest_nps"] == 5 and c1["nps_category"] == "detractor"
    assert c1["review_count"] == 2 and c1["avg_review_rating"] == pytest.approx(3.0)
    assert c1["loyalty_tier"] == "gold"
    assert c1["has_analytics_consent"] and c1["has_profiling_consent"] and c1["has_marketing_consent"]
    assert c1["has_email_consent"] and not c1["has_sms_consent"] and not c1["has_push_consent"]
    assert c1["rfm_segment"] == "champions"
    c2 = query(con, "select * from marts.customer_360 where customer_id = 'c2'").iloc[0]
    assert not c2["has_profiling_consent"] and c2["community_activities_90d"] == 1 and c2["app_events_90d"] == 1
    c4 = query(con, "select * from marts.customer_360 where customer_id = 'c4'").iloc[0]
    assert pd.isna(c4["recency_days"]) and c4["frequency_365d"] == 0 and c4["rfm_segment"] == "lost"


def test_features_at_earlier_cutoff_ignore_later_data(built_warehouse):
    con, _ = built_warehouse
    features = query(con, "select * from marts.ml_customer_features")
    assert sorted(features["as_of_date"].astype(str).unique()) == [CUTOFF.isoformat(), AS_OF.isoformat()]
    at_cutoff = features[features["as_of_date"].astype(str) == CUTOFF.isoformat()].set_index("customer_id").sort_index()
    expected = expected_order_features(CUTOFF)
    assert list(at_cutoff.index) == list(expected.index)  # c4, c5 signed up later
    for column in ("frequency_30d", "frequency_90d", "frequency_180d", "frequency_365d"):
        assert at_cutoff[column].tolist() == expected[column].tolist(), column
    assert at_cutoff["monetary_365d"].tolist() == pytest.approx(expected["monetary_365d"].tolist())
    assert at_cutoff["recency_days"].tolist() == expected["recency_days"].fillna(9999).astype(int).tolist()
    c1 = at_cutoff.loc["c1"]
    assert c1["frequency_365d"] == 2  # the three orders after the cutoff are invisible
    assert c1["order_trend"] == 1 - (1 - 1)
    assert c1["web_events_90d"] == 0  # the device was logged in only after the cutoff
    assert c1["latest_nps"] == 9 and c1["loyalty_tier_rank"] == 2 and c1["complaints_180d"] == 0
    assert c1["returns_365d"] == 1 and c1["discount_share_365d"] == pytest.approx(10.0 / 110.0)
    assert (
        not at_cutoff.loc["c3", "is_active_365d"]
        and at_cutoff.loc["c3", "recency_days"] == (CUTOFF - date(2024, 6, 1)).days
    )


def test_churn_labels_for_hand_made_case(built_warehouse):
    con, _ = built_warehouse
    labels = query(con, "select * from marts.ml_churn_labels")
    assert labels["as_of_date"].astype(str).unique().tolist() == [CUTOFF.isoformat()]  # AS_OF's window is open
    churned = labels.set_index("customer_id")["is_churned"].to_dict()
    # c1 bought in July, c7 returned (still a purchase), c6 only cancelled, c2 nothing; c3 and c8 inactive
    # c2's July order was cancelled only after the window closed: the label keeps what was known then
    assert churned == {"c1": False, "c2": False, "c6": True, "c7": False}


def test_staging_shows_the_latest_order_version_and_keeps_every_version(built_warehouse):
    con, _ = built_warehouse
    current = query(con, "select * from staging.stg_shop__orders")
    assert current["order_id"].is_unique and len(current) == len(ORDERS)
    assert current.set_index("order_id").loc["o12", "status"] == "cancelled"
    versions = query(con, "select * from staging.stg_shop__order_versions where order_id = 'o12' order by updated_at")
    assert versions["status"].tolist() == ["completed", "cancelled"]
    assert versions["version_number"].tolist() == [1, 2]
    assert versions["is_current_version"].tolist() == [False, True]
    assert versions.loc[0, "valid_to_at"] == versions.loc[1, "valid_from_at"] == ts("2026-06-15 09:00:00")
    assert pd.isna(versions.loc[1, "valid_to_at"])


def test_order_corrected_after_a_cutoff_counts_only_before_the_correction(built_warehouse):
    con, _ = built_warehouse
    features = query(con, "select * from intermediate.int_customer_features_as_of where customer_id in ('c3', 'c7')")
    by_date = features.assign(as_of_date=features["as_of_date"].astype(str)).set_index(["customer_id", "as_of_date"])
    c7_at_cutoff, c7_at_as_of = by_date.loc[("c7", CUTOFF.isoformat())], by_date.loc[("c7", AS_OF.isoformat())]
    # o12 (completed 2026-04-01) was cancelled on 2026-06-15: it counts as of CUTOFF, not as of AS_OF
    assert c7_at_cutoff["frequency_365d"] == 1 and c7_at_cutoff["monetary_365d"] == pytest.approx(70.0)
    assert c7_at_cutoff["last_order_updated_at"] == ts("2026-04-01 10:00:00")
    assert c7_at_as_of["frequency_365d"] == 1 and c7_at_as_of["monetary_365d"] == pytest.approx(0.0)
    assert c7_at_as_of["returns_365d"] == 1  # o13 only
    # o16 was placed before CUTOFF but first recorded after it: it does not exist yet at CUTOFF
    assert by_date.loc[("c3", CUTOFF.isoformat()), "frequency_365d"] == 0
    assert by_date.loc[("c3", AS_OF.isoformat()), "frequency_365d"] == 1
    assert (features["last_order_updated_at"].dropna() < pd.to_datetime(features["as_of_date"])).all()


def test_nbo_training_joins_features_as_of_send_date(built_warehouse):
    con, _ = built_warehouse
    rows = query(con, "select * from marts.ml_nbo_training order by assignment_id")
    assert rows["assignment_id"].tolist() == ["as1", "as2", "as3"]
    assert rows["offer_type"].tolist() == ["discount"] * 3
    assert rows["has_responded"].tolist() == [True, False, False]  # as3 responded after its 30-day window
    assert rows.loc[0, "frequency_365d"] == 2  # c1 as of 2026-06-01, not as of the reporting date


def test_unresolved_touchpoints_are_dropped(built_warehouse):
    con, _ = built_warehouse
    touchpoints = query(con, "select * from intermediate.int_touchpoints")
    assert "web:w4" not in set(touchpoints["touchpoint_id"]) and "store:v2" not in set(touchpoints["touchpoint_id"])
    assert touchpoints.set_index("touchpoint_id").loc["web:w1", "identified_by"] == "device"
    assert "interaction:i0" not in set(touchpoints["touchpoint_id"])  # brand-sent messages are not touchpoints
