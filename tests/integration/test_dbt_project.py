"""The dbt project built on a hand-made raw fixture; expectations are recomputed here in pandas."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from rapport.contract import SQL_TYPES, TABLES
from rapport.scores import ensure_score_tables
from rapport.settings import get_settings
from rapport.transform import CORE_SELECTOR, SCORE_MARTS_SELECTOR, build, run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AS_OF = date(2026, 11, 1)
EARLY = date(2026, 10, 1)  # an earlier run: the previous snapshot of customer_360_history
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


def score_row(as_of: date, model: str, **values) -> dict:
    return {
        **values,
        "as_of_date": as_of,
        "model_name": model,
        "model_version": "7",
        "scoring_run_id": f"run-{as_of.isoformat()}",
        "scored_at": datetime.combine(as_of, datetime.min.time()) + timedelta(hours=6),
    }


# Scores as the models would write them back: for EARLY and AS_OF, plus a later run that must stay unseen.
CHURN_SCORES = [
    score_row(
        EARLY, "rapport-churn", customer_id="c1", churn_probability=0.5, risk_band="medium", reason_1="fewer visits"
    ),
    score_row(
        AS_OF, "rapport-churn", customer_id="c1", churn_probability=0.2, risk_band="low", reason_1="recent orders"
    ),
    score_row(AS_OF, "rapport-churn", customer_id="c2", churn_probability=0.9, risk_band="high", reason_1="no app use"),
    score_row(date(2026, 11, 8), "rapport-churn", customer_id="c2", churn_probability=0.1, risk_band="low"),
]
CLV_SCORES = [score_row(AS_OF, "rapport-clv", customer_id="c1", predicted_clv_365d=300.0, expected_orders_365d=4.0)]
OFFER_SCORES = [
    score_row(AS_OF, "rapport-nbo", customer_id="c1", rank=2, offer_id="of9", channel="sms", expected_value=1.0),
    score_row(AS_OF, "rapport-nbo", customer_id="c1", rank=1, offer_id="of1", channel="email", expected_value=4.5,
              reason="discount lovers respond"),
]  # fmt: skip
# (review_id, scored as of, score, label): r1 re-scored on 10-25; the 11-05 score is after AS_OF.
SENTIMENT_SCORES = [
    ("r1", date(2026, 2, 5), 0.8, "positive"),
    ("r1", date(2026, 10, 25), 0.7, "positive"),
    ("r2", date(2026, 10, 25), -0.6, "negative"),
    ("r2", date(2026, 11, 5), 0.9, "positive"),
]


def load_scores(con: duckdb.DuckDBPyConnection) -> None:
    ensure_score_tables(con)
    sentiment = [
        score_row(as_of, "rapport-sentiment", review_id=review_id, customer_id="c1", label=label, score=value)
        for review_id, as_of, value, label in SENTIMENT_SCORES
    ]
    for table, rows in (
        ("ml.churn_scores", CHURN_SCORES),
        ("ml.clv_scores", CLV_SCORES),
        ("ml.offer_recommendations", OFFER_SCORES),
        ("ml.review_sentiment", sentiment),
    ):
        con.register("_rows", pd.DataFrame(rows))
        con.execute(f"insert into {table} by name select * from _rows")
        con.unregister("_rows")


@pytest.fixture(scope="module")
def built_warehouse(module_home):
    """Build as of EARLY (whole project), then as of AS_OF the way the pipeline does: ``core``, then the score
    marts. Yields (read-only connection, the AS_OF core build's summary, the score marts' summary)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAPPORT_CHURN_HORIZON_DAYS", str(HORIZON_DAYS))
        warehouse = module_home / "warehouse.duckdb"
        con = duckdb.connect(str(warehouse))
        load_fixture(con)
        load_scores(con)
        con.close()
        build(EARLY)
        summary = build(AS_OF, feature_cutoffs=[CUTOFF, AS_OF], selector=CORE_SELECTOR)
        read = duckdb.connect(str(warehouse), read_only=True)
        after_core = {
            "tables": set(query(read, "select table_name from information_schema.tables")["table_name"]),
            "customer_360_dates": query(read, "select distinct as_of_date from marts.customer_360")["as_of_date"]
            .astype(str)
            .tolist(),
        }
        read.close()
        score_marts = build(AS_OF, selector=SCORE_MARTS_SELECTOR)
        run_dbt(["docs", "generate"], AS_OF)  # manifest and catalog for the docs test (dbt needs the file to itself)
        read = duckdb.connect(str(warehouse), read_only=True)
        yield read, summary, score_marts, after_core
        read.close()


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_build_reports_models_and_tests(built_warehouse):
    _, summary, score_marts, _ = built_warehouse
    assert summary["models"] >= 17 + 6 + 8
    assert summary["tests"] > 50
    assert summary["invocation_id"]
    assert summary["seconds"] > 0
    assert score_marts["models"] == 4 + 4  # stg_ml__* x4, int_customer_scores_as_of, customer_360, history, segments
    assert score_marts["tests"] > 10


def test_core_build_reads_no_scores_and_leaves_the_score_marts_alone(built_warehouse):
    con, _, _, after_core = built_warehouse
    assert {"dim_customer", "fct_orders", "ml_customer_features", "int_customer_relationship_as_of"} <= after_core[
        "tables"
    ]
    assert after_core["customer_360_dates"] == [EARLY.isoformat()]  # untouched until the score marts ran
    history = query(con, "select distinct as_of_date from marts.customer_360_history order by 1")
    assert history["as_of_date"].astype(str).tolist() == [EARLY.isoformat(), AS_OF.isoformat()]


def test_models_land_in_layer_schemas(built_warehouse):
    con, *_ = built_warehouse
    found = query(con, "select table_schema, table_name from information_schema.tables")
    schemas = found.groupby("table_name")["table_schema"].first().to_dict()
    assert schemas["stg_shop__customers"] == "staging"
    assert schemas["stg_web__events"] == "staging"
    assert schemas["int_touchpoints"] == "intermediate"
    assert schemas["customer_360"] == "marts"
    assert schemas["ml_customer_features"] == "marts"
    assert not any(schema.startswith("main_") for schema in found["table_schema"])


def test_customer_360_matches_independent_rfm(built_warehouse):
    con, *_ = built_warehouse
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
    con, *_ = built_warehouse
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
    con, *_ = built_warehouse
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
    con, *_ = built_warehouse
    labels = query(con, "select * from marts.ml_churn_labels")
    assert labels["as_of_date"].astype(str).unique().tolist() == [CUTOFF.isoformat()]  # AS_OF's window is open
    churned = labels.set_index("customer_id")["is_churned"].to_dict()
    # c1 bought in July, c7 returned (still a purchase), c6 only cancelled, c2 nothing; c3 and c8 inactive
    # c2's July order was cancelled only after the window closed: the label keeps what was known then
    assert churned == {"c1": False, "c2": False, "c6": True, "c7": False}


def test_staging_shows_the_latest_order_version_and_keeps_every_version(built_warehouse):
    con, *_ = built_warehouse
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
    con, *_ = built_warehouse
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
    con, *_ = built_warehouse
    rows = query(con, "select * from marts.ml_nbo_training order by assignment_id")
    assert rows["assignment_id"].tolist() == ["as1", "as2", "as3"]
    assert rows["offer_type"].tolist() == ["discount"] * 3
    assert rows["has_responded"].tolist() == [True, False, False]  # as3 responded after its 30-day window
    assert rows.loc[0, "frequency_365d"] == 2  # c1 as of 2026-06-01, not as of the reporting date


def test_unresolved_touchpoints_are_dropped(built_warehouse):
    con, *_ = built_warehouse
    touchpoints = query(con, "select * from intermediate.int_touchpoints")
    assert "web:w4" not in set(touchpoints["touchpoint_id"]) and "store:v2" not in set(touchpoints["touchpoint_id"])
    assert touchpoints.set_index("touchpoint_id").loc["web:w1", "identified_by"] == "device"
    assert "interaction:i0" not in set(touchpoints["touchpoint_id"])  # brand-sent messages are not touchpoints


# ---------------------------------------------------------------- customer_360 on the scores, segment_health


def project_vars() -> dict:
    """The documented defaults of dbt_project.yml: rules and weights the marts must follow."""
    import yaml

    return yaml.safe_load((get_settings().dbt_project_dir / "dbt_project.yml").read_text())["vars"]


def first_matching_rule(rules: list[dict], scores: dict[str, int]) -> str:
    for rule in rules:
        if all(
            (rule.get(f"min_{name}") is None or value >= rule[f"min_{name}"])
            and (rule.get(f"max_{name}") is None or value <= rule[f"max_{name}"])
            for name, value in scores.items()
        ):
            return rule["segment"]
    raise AssertionError(f"no rule matches {scores}")


def weighted_index(components: dict[str, float | None], weights: dict[str, float]) -> float | None:
    present = {name: value for name, value in components.items() if value is not None}
    if not present:
        return None
    return 100.0 * sum(weights[n] * v for n, v in present.items()) / sum(weights[n] for n in present)


def in_window(at: datetime, as_of: date, days: int) -> bool:
    as_of_at = datetime.combine(as_of, datetime.min.time())
    return as_of_at - timedelta(days=days) <= at < as_of_at


def expected_engagement(as_of: date) -> dict[str, float]:
    """Engagement index per customer from the fixture's messages, community activity, reviews and NPS answers."""
    variables = project_vars()
    interactions = [
        ("c1", "email", "sent", "2026-10-20 08:00:00"),
        ("c1", "email", "opened", "2026-10-20 09:00:00"),
        ("c1", "email", "clicked", "2026-10-20 09:01:00"),
        ("c1", "sms", "unsubscribed", "2026-10-25 09:00:00"),
    ]
    community = [("c2", "2026-10-01 10:00:00")]
    feedback = [("c1", "2026-03-01 10:00:00"), ("c1", "2026-10-01 10:00:00")]  # NPS answers
    feedback += [("c1", "2026-02-01 10:00:00"), ("c1", "2026-10-22 10:00:00")]  # reviews
    result = {}
    for customer_id in expected_order_features(as_of).index:
        sent = sum(
            1 for c, _, kind, at in interactions if c == customer_id and kind == "sent" and in_window(ts(at), as_of, 90)
        )
        responses = sum(
            1 for c, _, kind, at in interactions
            if c == customer_id and kind not in ("sent", "unsubscribed") and in_window(ts(at), as_of, 90)
        )  # fmt: skip
        activities = sum(1 for c, at in community if c == customer_id and in_window(ts(at), as_of, 90))
        given = sum(1 for c, at in feedback if c == customer_id and in_window(ts(at), as_of, 365))
        components = {
            "content_response": min(1.0, responses / sent) if sent else None,
            "community": min(1.0, activities / variables["engagement_community_cap"]),
            "feedback": min(1.0, given / variables["engagement_feedback_cap"]),
        }
        result[customer_id] = weighted_index(components, variables["engagement_weights"])
    return result


def test_engagement_index_matches_independent_computation(built_warehouse):
    con, *_ = built_warehouse
    actual = query(con, "select customer_id, engagement_index from marts.customer_360").set_index("customer_id")
    expected = expected_engagement(AS_OF)
    assert actual["engagement_index"].to_dict() == pytest.approx(expected)
    assert expected["c1"] == pytest.approx(70.0)  # responded to every message, plenty of feedback, no community


def test_customer_360_takes_the_scores_of_its_own_as_of_date(built_warehouse):
    con, *_ = built_warehouse
    c360 = query(con, "select * from marts.customer_360").set_index("customer_id")
    c1, c2 = c360.loc["c1"], c360.loc["c2"]
    assert c1["churn_probability"] == pytest.approx(0.2) and c1["churn_top_reason"] == "recent orders"
    assert c2["churn_probability"] == pytest.approx(0.9)  # not the 11-08 score written after AS_OF
    assert c1["predicted_clv_365d"] == pytest.approx(300.0) and c1["expected_orders_365d"] == pytest.approx(4.0)
    assert c1["next_best_offer_id"] == "of1" and c1["next_best_offer_channel"] == "email"
    # sentiment: each review's latest score on or before AS_OF (r1 re-scored 0.7; r2's 11-05 score unseen)
    assert c1["sentiment_level"] == pytest.approx((0.7 - 0.6) / 2)
    assert c1["sentiment_trend"] == pytest.approx(-0.6 - 0.7)  # r2 in the last 180 days, r1 before
    assert c1["sentiment_band"] == "neutral"
    assert str(c1["last_negative_review_date"])[:10] == "2026-10-22"
    assert c360.loc["c3", "sentiment_band"] == "unknown" and pd.isna(c360.loc["c3", "churn_probability"])
    assert c1["historic_clv"] == pytest.approx(40.0 + 80.0 + 50.0 + 100.0)  # completed orders only, all time
    assert c1["store_visits_90d"] == 1 and c1["loyalty_tier"] == "gold"
    assert str(c1["loyalty_tier_since_date"])[:10] == "2026-09-01" and c1["loyalty_tier_changes"] == 2


def expected_health(as_of: date, churn: dict[str, float], sentiment: dict[str, float]) -> dict[str, float]:
    variables = project_vars()
    features = expected_order_features(as_of)
    engagement = expected_engagement(as_of)
    latest_nps = {"c1": 5} if as_of > date(2026, 10, 1) else {"c1": 9}
    result = {}
    for customer_id, row in features.iterrows():
        nps = latest_nps.get(customer_id)
        components = {
            "recency": (row["r"] - 1) / 4,
            "frequency": (row["f"] - 1) / 4,
            "value": (row["m"] - 1) / 4,
            "nps": nps / 10 if nps is not None else None,
            "engagement": engagement[customer_id] / 100,
            "sentiment": (sentiment[customer_id] + 1) / 2 if customer_id in sentiment else None,
            "churn": 1 - churn[customer_id] if customer_id in churn else None,
        }
        result[customer_id] = weighted_index(components, variables["health_weights"])
    return result


def test_health_index_matches_independent_computation(built_warehouse):
    con, *_ = built_warehouse
    actual = query(con, "select customer_id, health_index from marts.customer_360").set_index("customer_id")
    expected = expected_health(AS_OF, churn={"c1": 0.2, "c2": 0.9}, sentiment={"c1": 0.05})
    assert actual["health_index"].to_dict() == pytest.approx(expected)
    assert all(0 <= value <= 100 for value in expected.values())


def expected_segments(as_of: date) -> pd.DataFrame:
    """Per customer at ``as_of``: the four segment memberships and the metrics segment_health averages."""
    variables = project_vars()
    features = expected_order_features(as_of)
    tiers = {"c1": "gold" if as_of > date(2026, 9, 1) else "silver"}
    nps = {"c1": 5 if as_of > date(2026, 10, 1) else 9}
    sentiment = {"c1": 0.05} if as_of == AS_OF else {"c1": 0.8}
    rows = []
    for customer_id, row in features.iterrows():
        scores = {"recency": row["r"], "frequency": row["f"], "monetary": row["m"]}
        active = row["frequency_365d"] > 0
        level = sentiment.get(customer_id)
        band = "unknown" if level is None else "negative" if level < -0.2 else "positive" if level > 0.2 else "neutral"
        rows.append(
            {
                "customer_id": customer_id,
                "rfm_segment": first_matching_rule(variables["rfm_segments"], scores),
                "value_tier": first_matching_rule(variables["value_tiers"], {"monetary": row["m"]})
                if active
                else "inactive",
                "sentiment_band": band,
                "loyalty_tier": tiers.get(customer_id, "none"),
                "monetary_365d": row["monetary_365d"],
                "nps": nps.get(customer_id),
            }
        )
    return pd.DataFrame(rows).set_index("customer_id")


def test_rfm_segments_follow_the_documented_rules(built_warehouse):
    con, *_ = built_warehouse
    actual = query(con, "select customer_id, rfm_segment, value_tier from marts.customer_360").set_index("customer_id")
    expected = expected_segments(AS_OF)
    assert actual.sort_index()["rfm_segment"].to_dict() == expected["rfm_segment"].to_dict()
    assert actual.sort_index()["value_tier"].to_dict() == expected["value_tier"].to_dict()


def test_segment_health_matches_independent_computation(built_warehouse):
    con, *_ = built_warehouse
    actual = query(con, "select * from marts.segment_health")
    actual = actual.assign(as_of_date=actual["as_of_date"].astype(str)).set_index(
        ["as_of_date", "segment_type", "segment"]
    )
    now, before = expected_segments(AS_OF), expected_segments(EARLY)
    for segment_type in ("rfm_segment", "value_tier", "sentiment_band", "loyalty_tier"):
        for segment, members in now.groupby(segment_type):
            row = actual.loc[(AS_OF.isoformat(), segment_type, segment)]
            assert row["customers"] == len(members), (segment_type, segment)
            assert row["revenue_365d"] == pytest.approx(members["monetary_365d"].sum())
            answered = members["nps"].dropna()
            if len(answered):
                promoters, detractors = (answered >= 9).sum(), (answered <= 6).sum()
                assert row["nps"] == pytest.approx(100 * (promoters - detractors) / len(answered))
                assert row["avg_nps"] == pytest.approx(answered.mean())
            else:
                assert pd.isna(row["nps"])
            entered = members.index.difference(before.index[before[segment_type] == segment])
            left = before.index[before[segment_type] == segment].difference(members.index)
            assert (row["moved_in"], row["moved_out"]) == (len(entered), len(left)), (segment_type, segment)
        early_rows = actual.loc[EARLY.isoformat()]
        assert early_rows["moved_in"].isna().all()  # the first snapshot has nothing to move from
    # c1's review sentiment fell from 0.8 (positive) on EARLY to 0.05 (neutral): it moved between bands
    assert actual.loc[(AS_OF.isoformat(), "sentiment_band", "neutral"), "moved_in"] == 1
    assert actual.loc[(AS_OF.isoformat(), "sentiment_band", "unknown"), "moved_in"] == 1  # c4, new since EARLY


def test_docs_declare_exposures_and_lineage(built_warehouse):
    import json

    target = get_settings().home / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"relationship_report", "bi_copy", "churn_model", "nbo_model"} <= set(exposures)
    assert "model.rapport.customer_360" in exposures["relationship_report"]["depends_on"]["nodes"]
    assert "model.rapport.ml_churn_labels" in exposures["churn_model"]["depends_on"]["nodes"]
    parents = manifest["parent_map"]
    assert "model.rapport.int_customer_scores_as_of" in parents["model.rapport.customer_360"]
    assert "source.rapport.ml.churn_scores" in parents["model.rapport.stg_ml__churn_scores"]
    # the ML features must not descend from any score
    children, seen, frontier = manifest["child_map"], set(), ["source.rapport.ml.churn_scores"]
    while frontier:
        node = frontier.pop()
        seen.add(node)
        frontier += [c for c in children.get(node, []) if c not in seen]
    assert "model.rapport.customer_360" in seen and "model.rapport.ml_customer_features" not in seen
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert node["description"].strip(), f"{node['unique_id']} has no description (its grain)"
    columns = catalog["nodes"]["model.rapport.customer_360"]["columns"]
    assert {"health_index", "engagement_index", "churn_probability", "sentiment_band"} <= {c.lower() for c in columns}
