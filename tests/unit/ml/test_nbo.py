"""Next best offer: out-of-time training beside a popularity baseline, and consent-bound recommendations."""

from __future__ import annotations

from datetime import date, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from rapport import warehouse
from rapport.ml import nbo
from rapport.ml.config import load_model_config

AS_OF = date(2025, 7, 15)
N_CUSTOMERS = 300
FEATURES = load_model_config("nbo")["features"]
OFFERS = pd.DataFrame(
    {
        "offer_id": ["of-disc", "of-win", "of-ship", "of-comm"],
        "offer_type": ["discount", "win_back", "free_shipping", "community_invite"],
        "channel": ["email", "sms", "push", "email"],
        "unit_cost": [2.0, 5.0, 1.0, 0.5],
        "description": ["10% off", "come back", "free shipping", "join us"],
        "updated_at": pd.Timestamp("2024-12-01"),
    }
)

pytestmark = pytest.mark.slow  # each module's first MLflow call builds a SQLite store (~10 s on 2 shared cores)


def small_config() -> dict:
    config = load_model_config("nbo")
    config["xgboost"] = {**config["xgboost"], "n_estimators": 60, "learning_rate": 0.2}
    config["early_stopping"] = {**config.get("early_stopping", {}), "rounds": 10}
    return config


def customer_features(as_of: date, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(rng.poisson(3, size=(N_CUSTOMERS, len(FEATURES))).astype(float), columns=FEATURES)
    frame["recency_days"] = rng.integers(1, 300, N_CUSTOMERS).astype(float)
    frame["discount_share_365d"] = rng.random(N_CUSTOMERS)
    frame["avg_order_value_365d"] = rng.uniform(20, 120, N_CUSTOMERS)
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(N_CUSTOMERS)])
    frame.insert(1, "as_of_date", as_of)
    frame["has_profiling_consent"] = np.arange(N_CUSTOMERS) % 10 != 0
    frame["has_marketing_consent"] = True
    return frame


def response_probability(frame: pd.DataFrame) -> np.ndarray:
    """Win-back works on lapsed customers, discounts on discount lovers; the rest respond rarely."""
    logit = np.full(len(frame), -2.5)
    logit += np.where(frame["offer_type"] == "win_back", 0.02 * (frame["recency_days"] - 150), 0.0)
    logit += np.where(frame["offer_type"] == "discount", 4.0 * (frame["discount_share_365d"] - 0.5), 0.0)
    return 1 / (1 + np.exp(-logit))


def build_warehouse(path) -> tuple:
    rng = np.random.default_rng(0)
    con = warehouse.connect(path)
    campaigns, assignments = [], []
    for k, offer_index in enumerate([2, 3, 0, 1] * 2):
        offer = OFFERS.iloc[offer_index]
        sent = date(2025, 1, 5) + timedelta(days=18 * k)
        campaign_id = f"camp-{k}"
        campaigns.append({"campaign_id": campaign_id, "offer_id": offer.offer_id, "started_at": pd.Timestamp(sent)})
        targeted = customer_features(sent, rng).sample(200, random_state=k)
        targeted = targeted.assign(
            assignment_id=[f"{campaign_id}-{cid}" for cid in targeted["customer_id"]],
            offer_id=offer.offer_id,
            offer_type=offer.offer_type,
            channel=offer.channel,
            campaign_id=campaign_id,
            sent_date=sent,
            assignment_group=np.where(rng.random(len(targeted)) < 0.8, "treatment", "control"),
        )
        targeted["has_responded"] = rng.random(len(targeted)) < response_probability(targeted)
        assignments.append(targeted)
    scoring = customer_features(AS_OF, rng)
    consents = pd.DataFrame(
        {
            "customer_id": scoring["customer_id"],
            "as_of_date": AS_OF,
            "has_marketing_consent": rng.random(N_CUSTOMERS) < 0.85,
            "has_email_consent": rng.random(N_CUSTOMERS) < 0.6,
            "has_sms_consent": rng.random(N_CUSTOMERS) < 0.5,
            "has_push_consent": rng.random(N_CUSTOMERS) < 0.4,
            "has_profiling_consent": scoring["has_profiling_consent"],
        }
    )
    tables = {
        "raw.offers": OFFERS,
        "raw.campaigns": pd.DataFrame(campaigns),
        "marts.ml_nbo_training": pd.concat(assignments, ignore_index=True),
        "marts.ml_customer_features": scoring,
        "marts.customer_360": consents,
    }
    for table, frame in tables.items():
        con.register("_frame", frame)
        con.execute(f"create or replace table {table} as select * from _frame")
        con.unregister("_frame")
    return con


@pytest.fixture(scope="module")
def trained(module_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nbo, "load_model_config", lambda model: small_config())
        con = build_warehouse(module_home / "warehouse.duckdb")
        result = nbo.train_nbo(AS_OF, con, config=small_config())
        promotion = nbo.promote_nbo(result["model_version"])
        yield {"con": con, "result": result, "promotion": promotion}
        con.close()


def test_train_nbo_beats_popularity_and_logs_both_runs(trained):
    result = trained["result"]
    assert result["val_roc_auc"] > result["baseline_val_roc_auc"]
    baseline_run = mlflow.MlflowClient().get_run(result["baseline_run_id"])
    assert baseline_run.data.tags["baseline"] == "popularity"
    model_metrics = set(mlflow.MlflowClient().get_run(result["run_id"]).data.metrics)
    assert set(baseline_run.data.metrics) <= model_metrics
    assert trained["promotion"]["promoted"] is True


def test_training_uses_treated_settled_consented_rows_only(trained):
    con = trained["con"]
    expected = con.execute(
        "select count(*) from marts.ml_nbo_training where assignment_group = 'treatment' "
        "and has_profiling_consent and sent_date < ?",
        [AS_OF - timedelta(days=small_config()["response_window_days"])],
    ).fetchone()[0]
    assert trained["result"]["n_train_rows"] + trained["result"]["n_holdout_rows"] == expected


def test_never_recommends_on_a_channel_without_consent(trained):
    con = trained["con"]
    written = nbo.score_offers(con, AS_OF, run_id="score-1")
    assert written > 0
    violations = con.execute(
        """
        select count(*) from ml.offer_recommendations r
        join marts.customer_360 c using (customer_id)
        where not c.has_marketing_consent
           or (r.channel = 'email' and not c.has_email_consent)
           or (r.channel = 'sms' and not c.has_sms_consent)
           or (r.channel = 'push' and not c.has_push_consent)
        """
    ).fetchone()[0]
    assert violations == 0
    unprofiled = con.execute(
        "select count(*) from ml.offer_recommendations r join marts.ml_customer_features f "
        "using (customer_id) where not f.has_profiling_consent"
    ).fetchone()[0]
    assert unprofiled == 0


def test_recommendations_are_ranked_top_three_with_reasons_and_rerun_replaces(trained):
    con = trained["con"]
    first = nbo.score_offers(con, AS_OF, run_id="score-a")
    second = nbo.score_offers(con, AS_OF, run_id="score-b")
    assert first == second
    frame = con.execute("select * from ml.offer_recommendations where as_of_date = ?", [AS_OF]).df()
    assert len(frame) == second
    assert set(frame["scoring_run_id"]) == {"score-b"}
    assert frame.groupby("customer_id")["rank"].max().max() <= 3
    assert not frame.duplicated(["customer_id", "rank"]).any()
    assert frame["propensity"].between(0, 1).all()
    assert frame["reason"].str.match(r"^consent:(email|sms|push); propensity \d\.\d\d").all()
    ordered = frame.sort_values(["customer_id", "rank"])
    assert (ordered.groupby("customer_id")["expected_value"].diff().dropna() <= 0).all()
