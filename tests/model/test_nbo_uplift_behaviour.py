"""Behaviour of the uplift model on simulated randomised campaigns: it must target who the offer moves.

Frequent buyers respond whether or not they get an offer (sure things); discount lovers respond to a
discount and lapsed customers to a win-back (persuadables). Judged on the latest campaigns, held out.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from rapport.ml import nbo
from rapport.ml.config import load_model_config
from rapport.ml.uplift import fit_t_learner

CONFIG = load_model_config("nbo")
FEATURES = list(CONFIG["features"])
OFFER_TYPES = nbo._offer_types(CONFIG)
CAMPAIGN_OFFERS = ["discount", "win_back", "free_shipping", "discount", "win_back", "community_invite"] * 2

pytestmark = pytest.mark.slow  # fits two boosted models on 8,400 assignments


def natural_response(frame: pd.DataFrame) -> np.ndarray:
    return 1 / (1 + np.exp(-(-2.8 + 0.6 * frame["frequency_365d"])))


def caused_response(frame: pd.DataFrame) -> np.ndarray:
    discount = np.where(frame["offer_type"] == "discount", 0.4 * frame["discount_share_365d"], 0.0)
    win_back = np.where(frame["offer_type"] == "win_back", 0.35 * (frame["recency_days"] > 150), 0.0)
    return discount + win_back + 0.01


def simulated_campaigns(seed: int = 7, per_campaign: int = 700) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    campaigns = []
    for k, offer_type in enumerate(CAMPAIGN_OFFERS):
        frame = pd.DataFrame(rng.poisson(2, size=(per_campaign, len(FEATURES))).astype(float), columns=FEATURES)
        frame["recency_days"] = rng.integers(1, 365, per_campaign).astype(float)
        frame["discount_share_365d"] = rng.random(per_campaign)
        frame["customer_id"] = [f"c{k}-{i}" for i in range(per_campaign)]
        frame["campaign_id"] = f"camp-{k:02d}"
        frame["sent_date"] = date(2025, 1, 6) + timedelta(days=30 * k)
        frame["offer_type"] = offer_type
        frame["is_treated"] = rng.random(per_campaign) < 0.75
        p0 = natural_response(frame)
        p1 = p0 + (1 - p0) * caused_response(frame)
        frame["has_responded"] = rng.random(per_campaign) < np.where(frame["is_treated"], p1, p0)
        campaigns.append(frame)
    return pd.concat(campaigns, ignore_index=True)


@pytest.fixture(scope="module")
def evaluated():
    config = {**CONFIG, "xgboost": {**CONFIG["xgboost"], "n_estimators": 150, "learning_rate": 0.1}}
    train, holdout, _ = nbo.split_by_campaign_date(simulated_campaigns(), 0.25)
    X = nbo.nbo_matrix(train, FEATURES, OFFER_TYPES)
    learner = fit_t_learner(
        X, train["has_responded"], train["is_treated"], train["customer_id"], nbo.offer_columns(OFFER_TYPES), config
    )
    metrics, _ = nbo.evaluate_on_holdout(learner, train, holdout, FEATURES, OFFER_TYPES, config)
    return learner, holdout, metrics


def test_uplift_ranking_beats_propensity_ranking_on_incremental_response(evaluated):
    _, _, metrics = evaluated
    uplift, propensity, random = metrics["uplift"], metrics["propensity"], metrics["random"]
    assert uplift["val_qini_coefficient"] > propensity["val_qini_coefficient"] + 0.005
    assert uplift["val_uplift_at_k"] > propensity["val_uplift_at_k"]
    assert uplift["val_uplift_at_k"] > random["val_uplift_at_k"]
    assert uplift["val_qini_coefficient"] > 0


def test_estimated_uplift_follows_the_customers_the_offer_moves(evaluated):
    learner, holdout, _ = evaluated
    discount = holdout[holdout["offer_type"] == "discount"]
    uplift = learner.uplift(nbo.nbo_matrix(discount, FEATURES, OFFER_TYPES))
    lovers = discount["discount_share_365d"].to_numpy() > 0.7
    indifferent = discount["discount_share_365d"].to_numpy() < 0.3
    assert uplift[lovers].mean() > uplift[indifferent].mean() + 0.1


def test_a_frequent_buyer_has_high_propensity_but_little_uplift(evaluated):
    learner, holdout, _ = evaluated
    rows = holdout[holdout["offer_type"] == "discount"].head(1)
    sure_thing = rows.assign(frequency_365d=8.0, discount_share_365d=0.05, recency_days=20.0)
    persuadable = rows.assign(frequency_365d=0.0, discount_share_365d=0.95, recency_days=20.0)
    X = nbo.nbo_matrix(pd.concat([sure_thing, persuadable]), FEATURES, OFFER_TYPES)
    propensity, uplift = learner.response(X), learner.uplift(X)
    assert propensity[0] > propensity[1]
    assert uplift[1] > uplift[0]
