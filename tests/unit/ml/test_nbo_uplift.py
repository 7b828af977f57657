"""Uplift metrics judge a targeting order by what it causes on randomised groups, not by who responds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapport.ml.uplift import hit_rate_at_k, qini_coefficient, qini_curve, uplift_at_k


def persuadables_and_sure_things(n: int = 400):
    """Half are persuadables (respond only when treated), half sure things (respond either way)."""
    rng = np.random.default_rng(3)
    persuadable = np.arange(n) < n // 2
    treated = rng.random(n) < 0.5
    y = np.where(persuadable, treated, True).astype(int)
    return y, treated, persuadable


def test_qini_rewards_targeting_persuadables_and_punishes_sure_things():
    y, treated, persuadable = persuadables_and_sure_things()
    uplift_order = persuadable.astype(float)
    response_order = (~persuadable).astype(float)
    assert qini_coefficient(y, treated, uplift_order) > 0.05
    assert qini_coefficient(y, treated, response_order) < -0.05


def test_qini_curve_ends_at_the_total_incremental_responses():
    y = np.array([1, 0, 1, 0, 1, 1])
    treated = np.array([True, True, True, False, False, False])
    share, gains = qini_curve(y, treated, np.arange(6)[::-1])
    assert share[0] == 0 and share[-1] == 1
    assert gains[0] == 0
    # treated 2 responders of 3, control 2 of 3: 2 - 2 * 3 / 3 = 0 incremental
    assert gains[-1] == pytest.approx(0.0)


def test_uplift_at_k_is_treated_minus_control_rate_in_the_top_share():
    y, treated, persuadable = persuadables_and_sure_things()
    assert uplift_at_k(y, treated, persuadable.astype(float), 0.5) == pytest.approx(1.0)
    assert uplift_at_k(y, treated, (~persuadable).astype(float), 0.5) == pytest.approx(0.0)


def test_uplift_at_k_refuses_a_top_share_with_one_group():
    with pytest.raises(ValueError, match="one randomised group"):
        uplift_at_k(np.array([1, 0]), np.array([True, False]), np.array([2.0, 1.0]), 0.5)


def test_hit_rate_counts_responses_to_an_offer_ranked_in_the_top_k():
    scores = pd.DataFrame({"discount": [0.9, 0.1, 0.5], "win_back": [0.1, 0.8, 0.4], "community_invite": [0, 0, 0.6]})
    responded = pd.Series(["discount", "discount", "win_back"])
    assert hit_rate_at_k(scores, responded, 1) == pytest.approx(1 / 3)
    assert hit_rate_at_k(scores, responded, 2) == pytest.approx(2 / 3)
    with pytest.raises(KeyError, match="free_shipping"):
        hit_rate_at_k(scores, pd.Series(["discount", "free_shipping", "win_back"]), 1)
