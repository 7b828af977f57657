"""Behaviour of the churn champion from the shared pipeline run: invariances a marketer relies on."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def champion_and_customers(pipeline_run):
    from rapport import warehouse
    from rapport.ml.churn import load_champion
    from rapport.ml.features import feature_matrix, load_scoring_frame

    model, version = load_champion("rapport-churn")
    con = warehouse.connect(read_only=True)
    try:
        frame = load_scoring_frame(con, pipeline_run["as_of"])
    finally:
        con.close()
    features = feature_matrix(frame, list(model.get_booster().feature_names))
    assert len(features) > 100
    return model, features


def _risk(model, features) -> np.ndarray:
    return model.predict_proba(features)[:, 1]


def test_a_new_complaint_never_lowers_churn_risk(champion_and_customers):
    model, features = champion_and_customers
    complained = features.copy()
    complained["complaints_180d"] = complained["complaints_180d"].fillna(0) + 1
    assert (_risk(model, complained) >= _risk(model, features) - 1e-6).all()


def test_a_month_more_without_an_order_never_lowers_churn_risk(champion_and_customers):
    model, features = champion_and_customers
    later = features.copy()
    later["recency_days"] = later["recency_days"] + 30
    assert (_risk(model, later) >= _risk(model, features) - 1e-6).all()


def test_risk_depends_on_behaviour_not_just_recency(champion_and_customers):
    model, features = champion_and_customers
    calm = features.copy()
    calm["complaints_180d"] = 0
    angry = features.copy()
    angry["complaints_180d"] = 3
    assert (_risk(model, angry) - _risk(model, calm)).mean() > 0.01
