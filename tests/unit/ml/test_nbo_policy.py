"""The offer policy: hard rules first (consent, eligibility, cool-down, fatigue), then value, holdout, capacity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapport.ml import nbo_policy
from rapport.ml.nbo_policy import (
    ChannelRules,
    OfferCatalog,
    OfferRules,
    PolicySettings,
    decide_offers,
    holdout_mask,
    load_offer_catalog,
)
from rapport.settings import get_settings

CATALOG = OfferCatalog(
    offers={
        "discount": OfferRules("discount", margin=0.5, cool_down_days=60),
        "win_back": OfferRules(
            "win_back", margin=0.5, cool_down_days=120, is_retention=True, eligibility={"recency_days": {"min": 60}}
        ),
    },
    channels={"email": ChannelRules(capacity=100, send_cost=1.0), "sms": ChannelRules(capacity=100, send_cost=2.0)},
    campaign_budget=1e9,
)
NO_HOLDOUT = PolicySettings(holdout_share=0.0, max_contacts=3, value_floor=60.0, default_churn_risk=0.5)


def pair(customer: str, offer_type: str, **overrides) -> dict:
    """One allowed, priced (customer, offer) pair; override what a test is about."""
    row = {
        "customer_id": customer,
        "offer_id": {"discount": "F001", "win_back": "F005"}[offer_type],
        "offer_type": offer_type,
        "channel": {"discount": "email", "win_back": "sms"}[offer_type],
        "unit_cost": 10.0,
        "has_profiling_consent": True,
        "is_marketing_consented": True,
        "is_channel_consented": True,
        "contacts_in_window": 0,
        "days_since_same_offer": np.nan,
        "recency_days": 90.0,
        "monetary_365d": 200.0,
        "is_active_365d": True,
        "churn_probability": np.nan,
        "predicted_clv_365d": np.nan,
        "uplift": 0.10,
        "propensity": 0.30,
    }
    return {**row, **overrides}


def decide(rows: list[dict], catalog: OfferCatalog = CATALOG, settings: PolicySettings = NO_HOLDOUT):
    return decide_offers(pd.DataFrame(rows), catalog, settings)


def test_expected_value_is_uplift_times_value_at_stake_minus_cost_and_reason_shows_it():
    recommendations, _ = decide([pair("c1", "discount", predicted_clv_365d=400.0)])
    row = recommendations.iloc[0]
    # value 400 (clv) x margin 0.5 = 200; cost = send 1 + unit 10 x propensity 0.3 = 4; 0.10 x 200 - 4 = 16
    assert row["value_at_stake"] == pytest.approx(200.0)
    assert row["cost"] == pytest.approx(4.0)
    assert row["expected_value"] == pytest.approx(16.0)
    assert row["reason"].startswith("uplift 10.0% x value 200 (clv) - cost 4.00 = 16.00; email consented")
    assert "no discount sent before" in row["reason"]


def test_retention_value_is_weighted_by_churn_risk_and_spend_is_the_fallback_value():
    recommendations, _ = decide(
        [pair("c1", "win_back", churn_probability=0.25), pair("c2", "win_back", monetary_365d=10.0)]
    )
    by_customer = recommendations.set_index("customer_id")
    assert by_customer.loc["c1", "value_at_stake"] == pytest.approx(200.0 * 0.5 * 0.25)
    # no churn score for an active customer: default risk; spend below the floor counts as the floor
    assert by_customer.loc["c2", "value_at_stake"] == pytest.approx(60.0 * 0.5 * 0.5)
    assert "churn risk 0.25" in by_customer.loc["c1", "reason"]


@pytest.mark.parametrize(
    ("overrides", "reason", "detail"),
    [
        ({"has_profiling_consent": False}, "no_profiling_consent", "no profiling consent"),
        ({"is_marketing_consented": False}, "no_marketing_consent", "no marketing consent"),
        ({"is_channel_consented": False}, "no_channel_consent", "no consent on sms"),
        ({"recency_days": 20.0}, "not_eligible", "recency_days 20 outside min 60"),
        ({"recency_days": np.nan}, "not_eligible", "recency_days nan outside min 60"),
        ({"days_since_same_offer": 95.0}, "cool_down", "last win_back 95 d ago (cool-down 120 d)"),
        ({"contacts_in_window": 3}, "fatigue", "3 contacts in 14 d (max 3)"),
    ],
)
def test_a_broken_hard_rule_suppresses_the_pair_with_its_reason(overrides, reason, detail):
    recommendations, suppressions = decide([pair("c1", "win_back", **overrides), pair("c2", "win_back")])
    assert list(recommendations["customer_id"]) == ["c2"]
    suppressed = suppressions.set_index("customer_id").loc["c1"]
    assert (suppressed["reason"], suppressed["detail"]) == (reason, detail)


def test_a_pair_past_its_cool_down_is_allowed_and_the_reason_names_the_last_send():
    recommendations, _ = decide([pair("c1", "win_back", days_since_same_offer=121.0)])
    assert "last win_back 121 d ago" in recommendations.iloc[0]["reason"]


def test_offers_are_ranked_by_value_and_only_the_best_positive_one_is_selected():
    recommendations, suppressions = decide(
        [pair("c1", "discount", uplift=0.05), pair("c1", "win_back", uplift=0.30, churn_probability=0.9)]
    )
    ordered = recommendations.sort_values("rank")
    assert list(ordered["offer_type"]) == ["win_back", "discount"]
    assert list(ordered["is_selected"]) == [True, False]
    worthless, _ = decide([pair("c3", "discount", uplift=-0.02)])
    assert not worthless["is_selected"].any()
    _, why = decide([pair("c3", "discount", uplift=-0.02)])
    assert list(why["reason"]) == ["no_positive_value"]


def test_channel_capacity_moves_customers_to_their_next_offer_then_suppresses_them():
    tight = OfferCatalog(
        CATALOG.offers,
        {"email": ChannelRules(capacity=1, send_cost=1.0), "sms": ChannelRules(capacity=0, send_cost=1.0)},
        campaign_budget=1e9,
    )
    recommendations, suppressions = decide(
        [pair("c1", "discount", uplift=0.20), pair("c2", "discount", uplift=0.10), pair("c2", "win_back")], tight
    )
    selected = recommendations[recommendations["is_selected"]]
    assert list(selected["customer_id"]) == ["c1"]
    assert suppressions.set_index("customer_id").loc["c2", "reason"] == "capacity"


def test_the_budget_caps_the_summed_cost_of_selected_offers():
    budgeted = OfferCatalog(CATALOG.offers, CATALOG.channels, campaign_budget=5.0)
    rows = [pair(f"c{i}", "discount", uplift=0.1 + i / 100) for i in range(3)]  # cost 4 each
    recommendations, suppressions = decide(rows, budgeted)
    assert recommendations["is_selected"].sum() == 1
    assert recommendations.loc[recommendations["is_selected"], "customer_id"].item() == "c2"
    assert set(suppressions["reason"]) == {"budget"}


def test_holdout_is_a_stable_share_that_gets_nothing():
    customers = pd.Series([f"c{i:05d}" for i in range(5000)])
    mask = holdout_mask(customers, 0.1, "salt")
    assert 0.08 < mask.mean() < 0.12
    assert (holdout_mask(customers, 0.1, "salt") == mask).all()
    assert (holdout_mask(customers.iloc[::-1], 0.1, "salt") == mask[::-1]).all()
    settings = PolicySettings(holdout_share=0.5, holdout_salt="salt")
    recommendations, suppressions = decide([pair(c, "discount") for c in customers[:200]], settings=settings)
    held = recommendations[recommendations["is_holdout"]]
    assert len(held) > 50
    assert not held["is_selected"].any()
    assert set(suppressions.loc[suppressions["reason"] == "holdout", "customer_id"]) == set(held["customer_id"])


def test_the_shipped_catalog_covers_every_offer_type_and_channel():
    from rapport.contract import OFFER_TYPES

    catalog = load_offer_catalog(get_settings().ml_config_dir / "nbo" / "offer_catalog.yaml")
    assert set(catalog.offers) == set(OFFER_TYPES)
    assert set(catalog.channels) == {"email", "sms", "push"}


def test_a_broken_catalog_names_the_file_and_the_offer(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("campaign_budget: 1\nchannels: {}\noffers:\n  discount: {margin: 2, cool_down_days: 1}\n")
    with pytest.raises(ValueError, match=r"catalog.yaml: offer 'discount': margin"):
        nbo_policy.load_offer_catalog(path)
