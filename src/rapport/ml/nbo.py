"""Next best offer: response propensity per (customer, offer type), ranked by expected value under consent.

Trained on treated assignments of past campaigns (the control group received nothing, so it says nothing
about response to the offer), split out-of-time by campaign send date and compared with an offer-popularity
baseline. Scoring only ever considers offers on channels the customer consented to be marketed on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from rapport.ml.churn import (
    fit_xgb_classifier,
    load_champion,
    log_training_runs,
    promote_model,
    reading_connection,
    require_both_classes,
    require_features_at,
    write_scores,
)
from rapport.ml.config import load_model_config
from rapport.ml.features import FEATURES_TABLE, NBO_TRAINING_TABLE, PROFILING_CONSENTED, data_version, feature_matrix

OFFER_RECOMMENDATIONS_TABLE = "ml.offer_recommendations"
OFFER_TYPE_PREFIX = "offer_type_"
CONSENT_CHANNELS = ("email", "sms", "push")


def _offer_types(config: dict[str, Any]) -> list[str]:
    from rapport.contract import OFFER_TYPES

    return list(config.get("offer_types") or OFFER_TYPES)


def nbo_matrix(frame: pd.DataFrame, features: list[str], offer_types: list[str]) -> pd.DataFrame:
    """Customer features followed by one ``offer_type_<type>`` indicator per known offer type."""
    matrix = feature_matrix(frame, features)
    for offer_type in offer_types:
        matrix[f"{OFFER_TYPE_PREFIX}{offer_type}"] = (frame["offer_type"] == offer_type).astype("float64").to_numpy()
    return matrix


def load_nbo_training_rows(con: duckdb.DuckDBPyConnection, as_of: date, response_window_days: int) -> pd.DataFrame:
    """Treated assignments with a settled outcome before ``as_of``, for customers with profiling consent."""
    settled_before = as_of - timedelta(days=response_window_days)
    return con.execute(
        f"""
        select f.*, cast(f.has_responded as boolean) as has_responded
        from {NBO_TRAINING_TABLE} as f
        where f.assignment_group = 'treatment' and f.sent_date < ? and {PROFILING_CONSENTED}
        order by f.sent_date, f.assignment_id
        """,
        [settled_before],
    ).df()


def split_by_campaign_date(rows: pd.DataFrame, holdout_share: float) -> tuple[pd.DataFrame, pd.DataFrame, date]:
    """Out-of-time split: assignments sent on or after the first send date of the latest campaigns are held out."""
    starts = rows.groupby("campaign_id")["sent_date"].min().sort_values()
    if len(starts) < 2:
        raise ValueError(f"need at least two campaigns for an out-of-time split, got {len(starts)}")
    n_holdout = min(len(starts) - 1, max(1, int(np.ceil(len(starts) * holdout_share))))
    holdout_from = starts.iloc[-n_holdout]
    is_holdout = rows["sent_date"] >= holdout_from
    if is_holdout.all():
        raise ValueError("every campaign starts on the same date: no out-of-time split possible")
    return rows[~is_holdout], rows[is_holdout], pd.Timestamp(holdout_from).date()


def popularity_baseline(train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    """Baseline propensity: each offer's response rate on the training rows (the overall rate for new offers)."""
    rates = train.groupby("offer_id")["has_responded"].mean()
    overall = float(train["has_responded"].mean())
    return holdout["offer_id"].map(rates).astype("float64").fillna(overall).to_numpy()


def train_nbo(as_of: date, con: duckdb.DuckDBPyConnection | None = None, *, config: dict | None = None) -> dict:
    """Train the offer-response model as of ``as_of`` out-of-time, beside the popularity baseline; never promote."""
    config = config or load_model_config("nbo")
    with reading_connection(con) as reader:
        rows = load_nbo_training_rows(reader, as_of, int(config.get("response_window_days", 30)))
    require_both_classes(rows["has_responded"], f"NBO training (sent before {as_of.isoformat()})")
    train, holdout, holdout_from = split_by_campaign_date(rows, float(config.get("holdout_campaign_share", 0.25)))
    require_both_classes(train["has_responded"], "NBO training split")
    require_both_classes(holdout["has_responded"], f"NBO holdout (sent from {holdout_from.isoformat()})")
    features, offer_types = list(config["features"]), _offer_types(config)
    X_train = nbo_matrix(train, features, offer_types)
    model, params = fit_xgb_classifier(X_train, train["has_responded"], train["customer_id"], config)
    scores = model.predict_proba(nbo_matrix(holdout, features, offer_types))[:, 1]
    result = log_training_runs(
        config,
        model=model,
        X_train=X_train,
        y_holdout=holdout["has_responded"].astype(int).to_numpy(),
        scores=scores,
        baseline_scores=popularity_baseline(train, holdout),
        baseline_name="popularity",
        params={
            **params,
            "n_features": X_train.shape[1],
            "n_train_rows": len(train),
            "n_holdout_rows": len(holdout),
            "train_response_rate": round(float(train["has_responded"].mean()), 4),
        },
        tags={
            "model": "nbo",
            "as_of_date": as_of.isoformat(),
            "data_version": data_version(rows),
            "cutoffs": ",".join(sorted({pd.Timestamp(d).date().isoformat() for d in train["sent_date"]})),
            "holdout_from": holdout_from.isoformat(),
        },
    )
    return {**result, "n_train_rows": len(train), "n_holdout_rows": len(holdout)}


def promote_nbo(version: str | None = None) -> dict:
    """Promote an NBO version (default the newest) to ``@champion`` if it passes the gate."""
    return promote_model(load_model_config("nbo"), version)


def load_eligible_pairs(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Every (customer, offer) pair allowed at ``as_of``: profiling consent for the features, marketing consent
    and consent on the offer's channel (latest customer_360 snapshot on or before ``as_of``)."""
    consent_checks = " or ".join(
        f"(o.channel = '{channel}' and coalesce(cast(c.has_{channel}_consent as boolean), false))"
        for channel in CONSENT_CHANNELS
    )
    return con.execute(
        f"""
        with consents as (
            select * from marts.customer_360
            where as_of_date <= ?
            qualify row_number() over (partition by customer_id order by as_of_date desc) = 1
        ),
        offers as (
            select offer_id, offer_type, channel, cast(unit_cost as double) as unit_cost
            from raw.offers
            where cast(updated_at as date) <= ?
            qualify row_number() over (partition by offer_id order by updated_at desc) = 1
        )
        select f.*, o.offer_id, o.offer_type, o.channel, o.unit_cost
        from {FEATURES_TABLE} as f
        join consents as c on c.customer_id = f.customer_id
        join offers as o on ({consent_checks})
        where f.as_of_date = ? and {PROFILING_CONSENTED}
          and coalesce(cast(c.has_marketing_consent as boolean), false)
        order by f.customer_id, o.offer_id
        """,
        [as_of, as_of, as_of],
    ).df()


def _reason(
    channel: str, propensity: float, contributions: np.ndarray, row: pd.Series, medians: pd.Series, n: int
) -> str:
    drivers = []
    for index in np.argsort(-contributions):
        if len(drivers) == n or contributions[index] <= 0:
            break
        name = medians.index[index]
        if name.startswith(OFFER_TYPE_PREFIX):
            if row.iloc[index] == 1.0:
                drivers.append(f"offer_type={name.removeprefix(OFFER_TYPE_PREFIX)}")
        elif pd.isna(row.iloc[index]):
            drivers.append(f"{name} missing")
        else:
            drivers.append(f"{name} {'high' if row.iloc[index] >= medians.iloc[index] else 'low'}")
    via = f" via {', '.join(drivers)}" if drivers else ""
    return f"consent:{channel}; propensity {propensity:.2f}{via}"


def score_offers(con: duckdb.DuckDBPyConnection, as_of: date, run_id: str) -> int:
    """Rank consented offers per customer by expected value with the champion; write the top ones."""
    from xgboost import DMatrix

    config = load_model_config("nbo")
    scoring = config.get("scoring", {})
    model_name = config["model_name"]
    model, version = load_champion(model_name)
    require_features_at(con, as_of)
    pairs = load_eligible_pairs(con, as_of)
    model_features = list(model.get_booster().feature_names)
    customer_features = [name for name in model_features if not name.startswith(OFFER_TYPE_PREFIX)]
    offer_types = [
        name.removeprefix(OFFER_TYPE_PREFIX) for name in model_features if name.startswith(OFFER_TYPE_PREFIX)
    ]
    columns = ["customer_id", "as_of_date", "rank", "offer_id", "channel", "propensity", "expected_value", "reason"]
    if pairs.empty:
        return write_scores(con, OFFER_RECOMMENDATIONS_TABLE, pd.DataFrame(columns=columns), as_of, model_name)
    X = nbo_matrix(pairs, customer_features, offer_types)[model_features]
    pairs["propensity"] = model.predict_proba(X)[:, 1]
    order_value = pairs["avg_order_value_365d"].astype("float64").fillna(float(scoring.get("default_order_value", 50)))
    pairs["expected_value"] = pairs["propensity"] * order_value - pairs["unit_cost"].astype("float64").fillna(0.0)
    pairs = pairs.sort_values(
        ["customer_id", "expected_value", "propensity", "offer_id"], ascending=[True, False, False, True]
    )
    pairs["rank"] = pairs.groupby("customer_id").cumcount() + 1
    top = pairs[pairs["rank"] <= int(scoring.get("top_n", 3))]
    X_top = X.loc[top.index]
    contributions = model.get_booster().predict(DMatrix(X_top), pred_contribs=True)[:, :-1]
    medians = X.median()
    n_reasons = int(scoring.get("reason_features", 2))
    reasons = [
        _reason(channel, propensity, contributions[i], X_top.iloc[i], medians, n_reasons)
        for i, (channel, propensity) in enumerate(zip(top["channel"], top["propensity"], strict=True))
    ]
    recommendations = pd.DataFrame(
        {
            "customer_id": top["customer_id"].astype(str).to_numpy(),
            "as_of_date": pd.Series([as_of] * len(top), dtype="object"),
            "rank": top["rank"].astype("int32").to_numpy(),
            "offer_id": top["offer_id"].astype(str).to_numpy(),
            "channel": top["channel"].astype(str).to_numpy(),
            "propensity": top["propensity"].astype("float64").to_numpy(),
            "expected_value": top["expected_value"].astype("float64").to_numpy(),
            "reason": reasons,
            "model_name": model_name,
            "model_version": version,
            "scoring_run_id": run_id,
            "scored_at": pd.Timestamp(datetime.now(UTC)).tz_localize(None),
        }
    )
    return write_scores(con, OFFER_RECOMMENDATIONS_TABLE, recommendations, as_of, model_name)
