"""Uplift from randomised campaigns: a T-learner and the metrics that judge a targeting order.

A campaign's control group received nothing, so the difference between the treated response rate and the
control response rate of similar customers is what the offer *caused*. The T-learner estimates both sides
with gradient-boosted trees: ``treated`` learns P(response | x, offer, sent) and is also the plain
response-propensity model; ``control`` learns P(response | x, nothing sent). The control model takes no
offer features: an unsent offer cannot change anything, so every campaign's control group is one pool.

The metrics take outcomes ``y``, the randomised ``treated`` flag and a ranking ``score`` (higher = target
first). They only use the randomisation, so any ranking (uplift, propensity, random) is judged alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rapport.ml.features import customer_holdout_mask


@dataclass
class TLearner:
    """Two response models, treated and control; uplift is their difference."""

    treated: Any  # XGBClassifier over customer features + offer indicators
    control: Any  # XGBClassifier over customer features only
    offer_features: list[str]

    @property
    def feature_names(self) -> list[str]:
        return list(self.treated.get_booster().feature_names)

    def response(self, X: pd.DataFrame) -> np.ndarray:
        """P(response | x, offer sent): the response propensity."""
        return self.treated.predict_proba(X[self.feature_names])[:, 1]

    def control_response(self, X: pd.DataFrame) -> np.ndarray:
        """P(response | x, nothing sent): what the customer does anyway."""
        return self.control.predict_proba(X[list(self.control.get_booster().feature_names)])[:, 1]

    def uplift(self, X: pd.DataFrame) -> np.ndarray:
        """Incremental response probability the offer causes."""
        return self.response(X) - self.control_response(X)


def fit_response_model(X: pd.DataFrame, y: pd.Series, customer_ids: pd.Series, config: dict[str, Any]) -> Any:
    """An XGBoost classifier whose probabilities stay calibrated (no class re-weighting).

    Uplift is a difference of two probabilities, so neither side may be re-weighted; the number of trees
    is picked by early stopping on a hashed share of customers, then the model is refit on all rows.
    """
    from xgboost import XGBClassifier

    X, y = X.reset_index(drop=True), y.astype(int).reset_index(drop=True)
    early = config.get("early_stopping", {})
    params = {**config["xgboost"], "eval_metric": "logloss"}
    mask = customer_holdout_mask(customer_ids.reset_index(drop=True), float(early.get("validation_share", 0.2)))
    if y[mask].nunique() == 2 and y[~mask].nunique() == 2:
        probe = XGBClassifier(**params, early_stopping_rounds=int(early.get("rounds", 30)))
        probe.fit(X[~mask], y[~mask], eval_set=[(X[mask], y[mask])], verbose=False)
        params["n_estimators"] = int(probe.best_iteration) + 1
    return XGBClassifier(**params).fit(X, y, verbose=False)


def fit_t_learner(
    X: pd.DataFrame,
    y: pd.Series,
    treated: np.ndarray,
    customer_ids: pd.Series,
    offer_features: list[str],
    config: dict[str, Any],
) -> TLearner:
    """Fit the treated model on treated rows and the pooled control model on control rows."""
    treated = np.asarray(treated, dtype=bool)
    y = y.reset_index(drop=True)
    X, customer_ids = X.reset_index(drop=True), customer_ids.reset_index(drop=True)
    customer_columns = [name for name in X.columns if name not in offer_features]
    control_config = {**config, "xgboost": {**config["xgboost"], **config.get("control_xgboost", {})}}
    return TLearner(
        treated=fit_response_model(X[treated], y[treated], customer_ids[treated], config),
        control=fit_response_model(
            X.loc[~treated, customer_columns], y[~treated], customer_ids[~treated], control_config
        ),
        offer_features=list(offer_features),
    )


def qini_curve(y, treated, score) -> tuple[np.ndarray, np.ndarray]:
    """Share targeted (0..1) and incremental responses gained when targeting in ``score`` order.

    Incremental responses at a cut = treated responders - control responders scaled to the treated count
    above the cut (Radcliffe's Qini). Ties in ``score`` keep the input order.
    """
    y, t = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool)
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    y, t = y[order], t[order]
    n_treated, n_control = np.cumsum(t), np.cumsum(~t)
    responders_treated, responders_control = np.cumsum(y * t), np.cumsum(y * ~t)
    scale = np.divide(n_treated, n_control, out=np.zeros(len(y)), where=n_control > 0)
    gains = responders_treated - responders_control * scale
    share = np.arange(len(y) + 1) / max(len(y), 1)
    return share, np.concatenate([[0.0], gains])


def qini_coefficient(y, treated, score) -> float:
    """Area between the Qini curve and random targeting's straight line, per customer (0 = random)."""
    share, gains = qini_curve(y, treated, score)
    excess = gains - share * gains[-1]
    area = float(np.sum((excess[1:] + excess[:-1]) * np.diff(share)) / 2)
    return area / max(len(share) - 1, 1)


def uplift_at_k(y, treated, score, share: float) -> float:
    """Treated minus control response rate among the top ``share`` of customers by ``score``."""
    y, t = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool)
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[: max(1, int(np.ceil(len(y) * share)))]
    y_top, t_top = y[top], t[top]
    if not t_top.any() or t_top.all():
        raise ValueError(f"the top {share:.0%} holds only one randomised group: uplift@k is undefined")
    return float(y_top[t_top].mean() - y_top[~t_top].mean())


def hit_rate_at_k(offer_scores: pd.DataFrame, responded_offer: pd.Series, k: int) -> float:
    """Share of responses whose offer is among the customer's ``k`` best-scored offers.

    ``offer_scores`` has one row per response and one column per offer; ``responded_offer`` names the
    column of the offer each response was to.
    """
    if offer_scores.empty:
        raise ValueError("hit rate needs at least one response")
    ranks = offer_scores.rank(axis=1, ascending=False, method="first")
    columns = offer_scores.columns.get_indexer(responded_offer)
    if (columns < 0).any():
        raise KeyError(f"responded offers not scored: {sorted(set(responded_offer[columns < 0]))}")
    return float((ranks.to_numpy()[np.arange(len(ranks)), columns] <= k).mean())


def qini_figure(y, treated, curves: dict[str, np.ndarray]):
    """Qini curves of several rankings on one holdout, with random targeting as the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    gains = None
    for label, score in curves.items():
        share, gains = qini_curve(y, treated, score)
        ax.plot(share, gains, label=f"{label} (Qini {qini_coefficient(y, treated, score):.4f})")
    if gains is not None:
        ax.plot([0, 1], [0, gains[-1]], linestyle="--", color="grey", linewidth=1, label="random (Qini 0)")
    ax.set(
        xlabel="share of customers targeted",
        ylabel="incremental responses",
        title="Qini curve on the held-out campaigns",
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
