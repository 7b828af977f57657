"""Next best offer end to end on a tiny warehouse: uplift training beside its baselines, the Qini gate,
recommendations under consent, cool-down and fatigue, and campaign exports that re-check consent."""

from __future__ import annotations

from datetime import date, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from rapport import campaigns, warehouse
from rapport.ml import nbo
from rapport.ml.config import load_model_config

AS_OF = date(2025, 7, 15)
N_CUSTOMERS = 400
CONFIG = load_model_config("nbo")
FEATURES = CONFIG["features"]
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
COOL_DOWN_DAYS = {"discount": 60, "win_back": 120, "free_shipping": 30, "community_invite": 90}

pytestmark = pytest.mark.slow  # MLflow store, two boosted models and a pyfunc registration (~30 s on 2 cores)


def small_config() -> dict:
    config = load_model_config("nbo")
    config["xgboost"] = {**config["xgboost"], "n_estimators": 60, "learning_rate": 0.2, "n_jobs": 1}
    config["early_stopping"] = {**config.get("early_stopping", {}), "rounds": 10}
    return config


def customer_features(as_of: date, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(rng.poisson(3, size=(N_CUSTOMERS, len(FEATURES))).astype(float), columns=FEATURES)
    frame["recency_days"] = rng.integers(1, 300, N_CUSTOMERS).astype(float)
    frame["discount_share_365d"] = rng.random(N_CUSTOMERS)
    frame["monetary_365d"] = rng.uniform(50, 600, N_CUSTOMERS)
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(N_CUSTOMERS)])
    frame.insert(1, "as_of_date", as_of)
    frame["is_active_365d"] = frame["recency_days"] < 365
    frame["has_profiling_consent"] = np.arange(N_CUSTOMERS) % 10 != 0
    frame["has_marketing_consent"] = True
    return frame


def response_probability(frame: pd.DataFrame, treated: np.ndarray) -> np.ndarray:
    """Frequent buyers buy anyway; discounts move discount lovers, win-backs lapsed customers."""
    natural = 1 / (1 + np.exp(-(-2.5 + 0.4 * frame["frequency_365d"].to_numpy())))
    caused = np.where(frame["offer_type"] == "discount", 0.5 * frame["discount_share_365d"], 0.0)
    caused += np.where(frame["offer_type"] == "win_back", 0.4 * (frame["recency_days"] > 150), 0.0)
    return natural + (1 - natural) * caused * treated


def campaign_history(rng: np.random.Generator) -> pd.DataFrame:
    assignments = []
    for k, offer_index in enumerate([2, 3, 0, 1] * 3):
        offer = OFFERS.iloc[offer_index]
        sent = date(2024, 12, 1) + timedelta(days=18 * k)
        targeted = customer_features(sent, rng).sample(300, random_state=k)
        treated = rng.random(len(targeted)) < 0.7
        targeted = targeted.assign(
            assignment_id=[f"camp-{k}-{cid}" for cid in targeted["customer_id"]],
            offer_id=offer.offer_id,
            offer_type=offer.offer_type,
            channel=offer.channel,
            campaign_id=f"camp-{k}",
            sent_date=sent,
            sent_at=pd.Timestamp(sent) + pd.Timedelta(hours=10),
            assignment_group=np.where(treated, "treatment", "control"),
        )
        targeted["has_responded"] = rng.random(len(targeted)) < response_probability(targeted, treated)
        assignments.append(targeted)
    return pd.concat(assignments, ignore_index=True)


def build_warehouse(path) -> tuple:
    rng = np.random.default_rng(0)
    con = warehouse.connect(path)
    history = campaign_history(rng)
    scoring = customer_features(AS_OF, rng)
    consent = {
        channel: rng.random(N_CUSTOMERS) < share for channel, share in (("email", 0.6), ("sms", 0.5), ("push", 0.4))
    }
    consents_360 = pd.DataFrame(
        {
            "customer_id": scoring["customer_id"],
            "as_of_date": AS_OF,
            "has_marketing_consent": consent["email"] | consent["sms"] | consent["push"],
            **{f"has_{channel}_consent": granted for channel, granted in consent.items()},
            "has_profiling_consent": scoring["has_profiling_consent"],
        }
    )
    consent_events = pd.concat(
        pd.DataFrame(
            {
                "consent_id": [f"{channel}-{cid}" for cid in scoring["customer_id"]],
                "customer_id": scoring["customer_id"],
                "purpose": "marketing",
                "channel": channel,
                "is_granted": granted,
                "recorded_at": pd.Timestamp("2024-06-01"),
            }
        )
        for channel, granted in consent.items()
    )
    sends = pd.DataFrame(
        {
            "customer_id": rng.choice(scoring["customer_id"], 900),
            "interaction_type": "sent",
            "occurred_at": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(1, 20 * 24, 900), unit="h"),
        }
    )
    tables = {
        "raw.offers": OFFERS,
        "marts.ml_nbo_training": history,
        "marts.ml_customer_features": scoring,
        "marts.dim_customer": consents_360,
        "staging.stg_marketing__offer_responses": history[["customer_id", "offer_id", "assignment_group", "sent_at"]],
        "staging.stg_marketing__interactions": sends,
        "staging.stg_consent__consents": consent_events,
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
        written = nbo.score_offers(con, AS_OF, run_id="score-1")
        yield {"con": con, "result": result, "promotion": promotion, "written": written, "home": module_home}
        con.close()


def test_training_logs_uplift_beside_random_popularity_and_propensity_and_passes_the_gate(trained):
    result, client = trained["result"], mlflow.MlflowClient()
    baselines = {name: client.get_run(run_id) for name, run_id in result["baseline_run_ids"].items()}
    assert {name: run.data.tags["baseline"] for name, run in baselines.items()} == {
        "random": "random",
        "popularity": "popularity",
        "propensity": "propensity",
    }
    model_run = client.get_run(result["run_id"])
    for run in baselines.values():
        assert set(run.data.metrics) <= set(model_run.data.metrics)
    assert "qini_curve.png" in {a.path for a in client.list_artifacts(result["run_id"])}
    assert result["val_qini_coefficient"] > result["propensity_val_qini_coefficient"] > 0
    assert result["val_uplift_at_k"] > result["random_val_uplift_at_k"]
    assert trained["promotion"]["promoted"] is True


def test_training_reads_treated_and_control_settled_consented_rows(trained):
    expected = (
        trained["con"]
        .execute(
            "select count(*), count(*) filter (where assignment_group = 'control') from marts.ml_nbo_training "
            "where has_profiling_consent and sent_date < ?",
            [AS_OF - timedelta(days=small_config()["response_window_days"])],
        )
        .fetchone()
    )
    result = trained["result"]
    assert result["n_train_rows"] + result["n_holdout_rows"] == expected[0]
    assert result["n_train_control_rows"] + result["n_holdout_control_rows"] == expected[1]


def test_no_recommendation_without_consent(trained):
    assert trained["written"] > 0
    violations = (
        trained["con"]
        .execute(
            """
        select count(*) from ml.offer_recommendations r
        join marts.dim_customer c using (customer_id)
        join marts.ml_customer_features f using (customer_id)
        where not c.has_marketing_consent or not f.has_profiling_consent
           or (r.channel = 'email' and not c.has_email_consent)
           or (r.channel = 'sms' and not c.has_sms_consent)
           or (r.channel = 'push' and not c.has_push_consent)
        """
        )
        .fetchone()[0]
    )
    assert violations == 0


def cool_down_violations(con, customers_table: str) -> int:
    """Rows of ``customers_table`` offering a type sent to the customer within its cool-down."""
    cool_downs = " ".join(f"when '{t}' then {d}" for t, d in COOL_DOWN_DAYS.items())
    return con.execute(
        f"""
        select count(*) from {customers_table} r
        join raw.offers o on o.offer_id = r.offer_id
        join staging.stg_marketing__offer_responses s
          on s.customer_id = r.customer_id and s.assignment_group = 'treatment'
        join raw.offers so on so.offer_id = s.offer_id and so.offer_type = o.offer_type
        where date_diff('day', cast(s.sent_at as date), date '{AS_OF}') < case o.offer_type {cool_downs} end
        """
    ).fetchone()[0]


def test_no_recommendation_within_a_cool_down_and_suppressions_say_so(trained):
    con = trained["con"]
    assert cool_down_violations(con, "ml.offer_recommendations") == 0
    cooled = con.execute(
        "select count(*), min(detail) from ml.offer_suppressions where reason = 'cool_down' and offer_id = 'of-win'"
    ).fetchone()
    assert cooled[0] > 0
    assert cooled[1].startswith("last win_back ")


def test_selected_offers_respect_fatigue_and_holdout_and_rank_by_value(trained):
    con = trained["con"]
    frame = con.execute("select * from ml.offer_recommendations where as_of_date = ?", [AS_OF]).df()
    assert frame.groupby("customer_id")["is_selected"].sum().max() == 1
    assert not frame.loc[frame["is_holdout"], "is_selected"].any()
    assert frame["is_holdout"].any()
    assert (frame.loc[frame["is_selected"], "expected_value"] > 0).all()
    ordered = frame.sort_values(["customer_id", "rank"])
    assert (ordered.groupby("customer_id")["expected_value"].diff().dropna() <= 0).all()
    assert frame["reason"].str.match(r"^uplift -?\d+\.\d% x value \d+ \(spend_365d").all()
    assert frame["reason"].str.contains(r"; drivers: \w+ (?:high|low|missing)").mean() > 0.5
    fatigued = con.execute(
        "select count(*) from ml.offer_recommendations r join ("
        "  select customer_id from staging.stg_marketing__interactions"
        "  where occurred_at >= ? and occurred_at < ? group by 1 having count(*) >= 3"
        ") using (customer_id)",
        [AS_OF - timedelta(days=14), AS_OF],
    ).fetchone()[0]
    assert fatigued == 0
    assert con.execute("select count(*) from ml.offer_suppressions where reason = 'fatigue'").fetchone()[0] > 0


def test_rescoring_replaces_both_partitions(trained):
    con = trained["con"]
    again = nbo.score_offers(con, AS_OF, run_id="score-2")
    assert again == trained["written"]
    runs = con.execute(
        "select distinct scoring_run_id from ml.offer_recommendations union "
        "select distinct scoring_run_id from ml.offer_suppressions"
    ).fetchall()
    assert runs == [("score-2",)]


def test_export_holds_only_consented_selected_offers_and_rechecks_consent(trained):
    con = trained["con"]
    withdrawn = con.execute(
        "select customer_id, channel from ml.offer_recommendations where is_selected and channel = 'email' "
        "order by customer_id limit 1"
    ).fetchone()
    con.execute(
        "insert into staging.stg_consent__consents values ('late', ?, 'marketing', 'email', false, ?)",
        [withdrawn[0], pd.Timestamp(AS_OF) + pd.Timedelta(days=1)],
    )
    summary = campaigns.export_campaigns(AS_OF, con)
    folder = trained["home"] / "exports" / AS_OF.isoformat()
    assert summary["exports_dir"] == str(folder)
    assert summary["consent_withdrawn_at_export"] == 1
    exported = pd.concat(pd.read_parquet(folder / f"{channel}.parquet") for channel in ("email", "sms", "push"))
    assert pd.read_csv(folder / "email.csv").shape[0] == summary["channels"]["email"]["customers"]
    assert withdrawn[0] not in set(exported["customer_id"])
    con.register("_exported", exported)
    assert cool_down_violations(con, "_exported") == 0
    unconsented = con.execute(
        "select count(*) from _exported r join marts.dim_customer c using (customer_id) "
        "where (r.channel = 'email' and not c.has_email_consent) or (r.channel = 'sms' and not c.has_sms_consent) "
        "or (r.channel = 'push' and not c.has_push_consent)"
    ).fetchone()[0]
    assert unconsented == 0
    held_out = con.execute("select distinct customer_id from ml.offer_recommendations where is_holdout").df()
    assert not set(held_out["customer_id"]) & set(exported["customer_id"])
    suppressed = pd.read_parquet(folder / "email_suppressions.parquet").set_index("customer_id")
    assert "consent_withdrawn" in suppressed.loc[withdrawn[0], "reasons"]
    assert suppressed["reasons"].str.contains("holdout").any()


def test_a_failed_export_leaves_the_previous_lists_in_place(trained, monkeypatch):
    folder = trained["home"] / "exports" / AS_OF.isoformat()
    campaigns.export_campaigns(AS_OF, trained["con"])
    before = sorted(p.name for p in folder.iterdir())

    def broken(frame, folder, stem):
        raise OSError("disk full")

    monkeypatch.setattr(campaigns, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        campaigns.export_campaigns(AS_OF, trained["con"])
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
