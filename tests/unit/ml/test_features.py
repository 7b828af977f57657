"""Cutoff calendars, training and scoring frames, splits and metrics on tiny DuckDB tables."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from rapport.ml.config import load_model_config
from rapport.ml.features import (
    binary_metrics,
    churn_cutoffs,
    customer_holdout_mask,
    data_version,
    feature_matrix,
    load_scoring_frame,
    load_training_frame,
    nbo_feature_dates,
)


def test_churn_cutoffs_keep_training_label_windows_before_the_holdout():
    as_of = date(2025, 6, 30)
    cutoffs = churn_cutoffs(as_of, horizon_days=90, n_train=3, step_days=30)
    assert cutoffs.holdout == as_of - timedelta(days=90)
    assert cutoffs.scoring == as_of
    assert list(cutoffs.train) == sorted(cutoffs.train)
    assert len(cutoffs.train) == 3
    assert max(cutoffs.train) + timedelta(days=90) <= cutoffs.holdout
    assert cutoffs.all() == sorted([*cutoffs.train, cutoffs.holdout, as_of])


def test_churn_cutoffs_reject_nonsense():
    with pytest.raises(ValueError):
        churn_cutoffs(date(2025, 1, 1), horizon_days=0)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create schema raw")
    features = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "a", "b", "c"],
            "as_of_date": [date(2025, 1, 1)] * 3 + [date(2025, 2, 1)] * 3,
            "recency_days": [1, 2, None, 4, 5, 6],
            "has_profiling_consent": [True, False, True, True, False, None],
        }
    )
    labels = features[["customer_id", "as_of_date"]].assign(is_churned=[True, False, False, True, True, False])
    offer_responses = pd.DataFrame(
        {
            "assignment_id": ["a1", "a2", "a3"],
            "sent_at": pd.to_datetime(["2025-01-05 09:00", "2025-01-05 00:00", "2025-03-01 00:00"]),
        }
    )
    for name, frame in {
        "marts.ml_customer_features": features,
        "marts.ml_churn_labels": labels,
        "raw.offer_responses": offer_responses,
    }.items():
        con.register("_f", frame)
        con.execute(f"create table {name} as select * from _f")
        con.unregister("_f")
    yield con
    con.close()


def test_training_frame_holds_only_profiling_consented_customers(con):
    frame = load_training_frame(con, [date(2025, 1, 1), date(2025, 2, 1)])
    assert list(zip(frame["customer_id"], frame["as_of_date"].dt.date, strict=True)) == [
        ("a", date(2025, 1, 1)),
        ("c", date(2025, 1, 1)),
        ("a", date(2025, 2, 1)),
    ]
    assert frame["is_churned"].tolist() == [True, False, True]


def test_training_frame_needs_cutoffs(con):
    with pytest.raises(ValueError, match="at least one cutoff"):
        load_training_frame(con, [])


def test_scoring_frame_is_one_date_and_consented_only(con):
    assert load_scoring_frame(con, date(2025, 2, 1))["customer_id"].tolist() == ["a"]


def test_nbo_feature_dates_are_distinct_send_dates_before_as_of(con):
    assert nbo_feature_dates(con, date(2025, 3, 1)) == [date(2025, 1, 5)]


def test_feature_matrix_keeps_order_and_missing_values(con):
    frame = load_training_frame(con, [date(2025, 1, 1)])
    matrix = feature_matrix(frame, ["recency_days"])
    assert matrix.dtypes.tolist() == [np.dtype("float64")]
    assert np.isnan(matrix["recency_days"].iloc[1])
    with pytest.raises(KeyError, match="nps"):
        feature_matrix(frame, ["recency_days", "latest_nps"])


def test_customer_holdout_mask_is_stable_and_whole_customers():
    ids = pd.Series([f"c{i}" for i in range(1000)] * 2)
    mask = customer_holdout_mask(ids, 0.2)
    assert (mask[:1000] == mask[1000:]).all()
    assert 0.15 < mask.mean() < 0.25


def test_data_version_changes_with_the_data():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert data_version(frame) == data_version(frame.copy())
    assert data_version(frame) != data_version(frame.assign(a=[1, 3]))


def test_binary_metrics_on_a_perfect_ranking():
    metrics = binary_metrics([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])
    assert metrics["val_roc_auc"] == pytest.approx(1.0)
    assert metrics["val_lift_top_decile"] == pytest.approx(4.0)
    assert set(metrics) == {"val_roc_auc", "val_pr_auc", "val_brier", "val_log_loss", "val_lift_top_decile"}


def test_model_configs_list_features_the_mart_provides():
    mart_columns = {
        "recency_days", "frequency_30d", "frequency_90d", "frequency_365d", "monetary_30d", "monetary_90d",
        "monetary_365d", "avg_order_value_365d", "order_trend", "tenure_days", "web_events_90d", "app_events_90d",
        "store_visits_90d", "call_center_contacts_180d", "complaints_180d", "email_opens_90d", "email_clicks_90d",
        "community_activities_90d", "latest_nps", "avg_review_rating", "returns_365d", "discount_share_365d",
        "unsubscribes_365d", "loyalty_tier_rank", "is_active_365d", "has_profiling_consent", "has_marketing_consent",
    }  # fmt: skip
    for model in ("churn", "nbo"):
        config = load_model_config(model)
        assert set(config["features"]) <= mart_columns
        assert "has_profiling_consent" not in config["features"]
    assert load_model_config("churn")["horizon_days"] == 90


def test_dbt_and_training_share_one_churn_calendar(monkeypatch):
    from rapport.ml.features import configured_churn_cutoffs
    from rapport.transform import dbt_vars

    monkeypatch.setenv("RAPPORT_CHURN_HORIZON_DAYS", "60")
    cutoffs = configured_churn_cutoffs(date(2026, 11, 1))
    assert cutoffs.horizon_days == 60
    assert cutoffs.holdout == date(2026, 9, 2)
    assert dbt_vars(date(2026, 11, 1), cutoffs.all())["churn_horizon_days"] == 60
    monkeypatch.delenv("RAPPORT_CHURN_HORIZON_DAYS")
    assert configured_churn_cutoffs(date(2026, 11, 1)).horizon_days == 90
