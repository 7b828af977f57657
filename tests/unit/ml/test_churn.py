"""Churn: out-of-time training beside a recency baseline, the promotion gate, scoring with the champion."""

from __future__ import annotations

from datetime import date

import mlflow
import numpy as np
import pandas as pd
import pytest

from rapport import warehouse
from rapport.ml import churn
from rapport.ml.config import load_model_config
from rapport.ml.features import churn_cutoffs

AS_OF = date(2025, 6, 30)
N_CUSTOMERS = 500
N_TRIALS = 3
SHARED_METRICS = {"val_roc_auc", "val_pr_auc", "val_brier", "val_log_loss", "val_lift_top_decile"}
PLOTS = {"roc_curve.png", "pr_curve.png", "calibration_curve.png", "lift_by_decile.png", "feature_importance.png"}

pytestmark = pytest.mark.slow  # each module's first MLflow call builds a SQLite store (~10 s on 2 shared cores)


def small_config() -> dict:
    config = load_model_config("churn")
    config["xgboost"] = {**config["xgboost"], "n_estimators": 60, "learning_rate": 0.2}
    config["early_stopping"] = {**config.get("early_stopping", {}), "rounds": 10}
    config["tuning"] = {**config.get("tuning", {}), "n_trials": N_TRIALS}
    config["shadow"] = {"runs": 1}
    return config


def synthetic_features(cutoff: date, seed: int) -> pd.DataFrame:
    """Feature rows where churn risk rises with complaints and falls with NPS; recency is only weakly tied."""
    rng = np.random.default_rng(seed)
    features = small_config()["features"]
    frame = pd.DataFrame(rng.poisson(3, size=(N_CUSTOMERS, len(features))).astype(float), columns=features)
    frame["complaints_180d"] = rng.poisson(1.0, N_CUSTOMERS).astype(float)
    frame["latest_nps"] = rng.integers(0, 11, N_CUSTOMERS).astype(float)
    frame.loc[rng.random(N_CUSTOMERS) < 0.1, "latest_nps"] = np.nan
    frame["recency_days"] = rng.integers(1, 200, N_CUSTOMERS).astype(float)
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(N_CUSTOMERS)])
    frame.insert(1, "as_of_date", cutoff)
    frame["has_profiling_consent"] = np.arange(N_CUSTOMERS) % 10 != 0
    frame["is_active_365d"] = (np.arange(N_CUSTOMERS) % 7 != 0).astype(float)
    return frame


def churn_labels(features: pd.DataFrame, seed: int) -> pd.Series:
    """Risk jumps at two complaints and doubles up with a low NPS: a step and an interaction no linear model fits."""
    rng = np.random.default_rng(seed)
    nps = features["latest_nps"].fillna(5.0)
    angry = (features["complaints_180d"] >= 2).astype(float)
    logit = -1.4 + 1.8 * angry + 1.8 * angry * (nps < 5) - 0.3 * (nps - 5) + 0.002 * features["recency_days"]
    return pd.Series(rng.random(len(features)) < 1 / (1 + np.exp(-logit)), index=features.index)


def build_warehouse(path, shuffle_labels: bool = False):
    cutoffs = churn_cutoffs(AS_OF)
    con = warehouse.connect(path)
    frames, labels = [], []
    for i, cutoff in enumerate(cutoffs.all()):
        features = synthetic_features(cutoff, seed=i)
        frames.append(features)
        if cutoff != cutoffs.scoring:
            churned = churn_labels(features, seed=100 + i)
            if shuffle_labels and cutoff in cutoffs.train:  # the holdout keeps its true labels
                churned = pd.Series(np.random.default_rng(7 + i).permutation(churned.to_numpy()), index=churned.index)
            labels.append(features[["customer_id", "as_of_date"]].assign(is_churned=churned))
    con.register("_f", pd.concat(frames, ignore_index=True))
    con.register("_l", pd.concat(labels, ignore_index=True))
    con.execute("create or replace table marts.ml_customer_features as select * from _f")
    con.execute("create or replace table marts.ml_churn_labels as select * from _l")
    con.execute("create schema if not exists intermediate")
    con.execute(
        "create or replace table intermediate.int_customer_features_as_of as select customer_id, as_of_date, "
        "case when complaints_180d > 1 then 'at_risk' else 'loyal' end as rfm_segment, "
        "case when loyalty_tier_rank > 3 then 'gold' else 'bronze' end as loyalty_tier, "
        "'email' as preferred_channel from _f"
    )
    con.unregister("_f")
    con.unregister("_l")
    return con


@pytest.fixture(scope="module")
def trained(module_home):
    """One RAPPORT_HOME for the module: version 1 trained on learnable labels, then promoted."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(churn, "load_model_config", lambda model: small_config())
        con = build_warehouse(module_home / "warehouse.duckdb")
        result = churn.train_churn(AS_OF, con, config=small_config())
        promotion = churn.promote_churn(result["model_version"])
        yield {"home": module_home, "con": con, "result": result, "promotion": promotion}
        con.close()


def test_train_churn_beats_both_baselines_on_the_same_holdout(trained):
    result = trained["result"]
    assert result["val_roc_auc"] > result["recency_val_roc_auc"] + 0.05
    assert result["val_roc_auc"] > result["logistic_val_roc_auc"]
    assert result["baseline_val_roc_auc"] == result["recency_val_roc_auc"]  # ml/churn/config.yaml: promotion.baseline
    assert result["n_train_rows"] == 3 * N_CUSTOMERS * 9 // 10


def test_one_parent_run_holds_trials_baselines_and_the_model_with_datasets_and_plots(trained):
    result = trained["result"]
    client = mlflow.MlflowClient()
    children = client.search_runs(
        [client.get_run(result["run_id"]).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result['parent_run_id']}'",
    )
    names = sorted(run.info.run_name for run in children)
    assert names == sorted(
        ["baseline-logistic", "baseline-recency", "xgboost", *(f"trial-{i}" for i in range(N_TRIALS))]
    )
    for name, run_id in result["baseline_run_ids"].items():
        baseline = client.get_run(run_id)
        assert baseline.data.tags["baseline"] == name
        assert SHARED_METRICS <= set(baseline.data.metrics)
    model_run = client.get_run(result["run_id"])
    assert SHARED_METRICS | {"val_ece", "baseline_val_roc_auc", "val_capture_top_1_decile"} <= set(
        model_run.data.metrics
    )
    assert {d.dataset.name.split("_")[1] for d in model_run.inputs.dataset_inputs} == {"training", "holdout"}
    assert len(model_run.data.tags["data_version"]) == 64
    assert model_run.data.tags["cutoffs"].count(",") == 2
    assert PLOTS <= {a.path for a in client.list_artifacts(result["run_id"])}


def test_calibration_on_the_validation_split_improves_holdout_calibration(trained):
    metrics = mlflow.MlflowClient().get_run(trained["result"]["run_id"]).data.metrics
    # scale_pos_weight inflates raw probabilities; the isotonic map fit on the validation split undoes it
    assert metrics["val_ece"] < metrics["uncalibrated_val_ece"]
    assert metrics["val_brier"] < metrics["uncalibrated_val_brier"]
    assert metrics["val_roc_auc"] == pytest.approx(metrics["uncalibrated_val_roc_auc"], abs=0.01)


def test_training_never_sets_the_alias_and_promotion_does(trained):
    assert trained["promotion"]["promoted"] is True
    version = mlflow.MlflowClient().get_model_version_by_alias("rapport-churn", "champion")
    assert str(version.version) == trained["result"]["model_version"]


def test_worse_challenger_is_refused_on_the_same_holdout_and_only_shadowed(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    shuffled = build_warehouse(tmp_path / "shuffled.duckdb", shuffle_labels=True)
    challenger = churn.train_churn(AS_OF, shuffled, config=small_config())
    shuffled.close()
    assert challenger["compared_champion_version"] == trained["result"]["model_version"]
    decision = churn.promote_churn(challenger["model_version"])
    assert decision["promoted"] is False
    assert "same holdout" in decision["reason"]
    tags = mlflow.MlflowClient().get_model_version("rapport-churn", challenger["model_version"]).tags
    assert tags["promotion_decision"] == "rejected" and "val_roc_auc" in tags["promotion_reason"]

    con = trained["con"]
    scored = churn.score_churn(con, AS_OF, run_id="score-1")
    assert con.execute("select distinct model_version from ml.churn_scores").fetchall() == [
        (trained["result"]["model_version"],)
    ]
    shadow = con.execute(
        "select count(*), list(distinct s.model_version), list(distinct s.champion_version), "
        "corr(s.champion_probability, c.churn_probability) from ml.churn_scores_shadow s "
        "join ml.churn_scores c using (customer_id, as_of_date, model_name)"
    ).fetchone()
    assert shadow[:3] == (scored, [challenger["model_version"]], [trained["result"]["model_version"]])
    assert shadow[3] == pytest.approx(1.0)

    # shadow.runs = 1: once shadowed on another date, the challenger is not scored again
    con.execute("update ml.churn_scores_shadow set as_of_date = as_of_date - 1")
    churn.score_churn(con, AS_OF, run_id="score-2")
    assert con.execute("select count(*) from ml.churn_scores_shadow where as_of_date = ?", [AS_OF]).fetchone()[0] == 0


def test_reasons_name_the_drivers_in_plain_words(trained, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    con = trained["con"]
    churn.score_churn(con, AS_OF, run_id="run-reasons")
    rows = con.execute(
        "select f.complaints_180d, s.reason_1, s.reason_2, s.reason_3 from ml.churn_scores s "
        "join marts.ml_customer_features f using (customer_id, as_of_date) where s.as_of_date = ?",
        [AS_OF],
    ).df()
    angry = rows[rows["complaints_180d"] >= 3]
    named = [
        f"{count:.0f} complaints in 180 days" in reasons
        for count, *reasons in angry[["complaints_180d", "reason_1", "reason_2", "reason_3"]].itertuples(index=False)
    ]
    assert len(named) > 20 and np.mean(named) > 0.9
    calm = rows[rows["complaints_180d"] == 0]
    assert not calm[["reason_1", "reason_2", "reason_3"]].isin(["0 complaints in 180 days"]).any().any()


def test_score_churn_writes_one_row_per_eligible_customer_and_rerun_replaces(trained, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    con = trained["con"]
    eligible = sum(1 for i in range(N_CUSTOMERS) if i % 10 and i % 7)  # profiling consent and active
    assert churn.score_churn(con, AS_OF, run_id="run-a") == eligible
    assert churn.score_churn(con, AS_OF, run_id="run-b") == eligible
    rows = con.execute(
        "select count(*), count(distinct customer_id), min(churn_probability), max(churn_probability), "
        "list(distinct scoring_run_id) from ml.churn_scores where as_of_date = ?",
        [AS_OF],
    ).fetchone()
    assert rows[0] == rows[1] == eligible
    assert 0.0 <= rows[2] <= rows[3] <= 1.0
    assert rows[4] == ["run-b"]
    bands = {b for (b,) in con.execute("select distinct risk_band from ml.churn_scores").fetchall()}
    assert bands <= {"low", "medium", "high"}


def test_customers_without_profiling_consent_are_neither_trained_on_nor_scored(trained, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    con = trained["con"]
    churn.score_churn(con, AS_OF, run_id="run-c")
    unconsented = con.execute(
        "select count(*) from ml.churn_scores s join marts.ml_customer_features f "
        "on f.customer_id = s.customer_id and f.as_of_date = s.as_of_date where not f.has_profiling_consent"
    ).fetchone()[0]
    assert unconsented == 0
    assert trained["result"]["n_holdout_rows"] == N_CUSTOMERS * 9 // 10


def test_scoring_without_a_champion_names_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    con = warehouse.connect(tmp_path / "warehouse.duckdb")
    with pytest.raises(LookupError, match="rapport-churn"):
        churn.score_churn(con, AS_OF, run_id="r")


def test_a_model_that_does_not_beat_its_baseline_is_never_promoted(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    con = build_warehouse(tmp_path / "warehouse.duckdb", shuffle_labels=True)
    result = churn.train_churn(AS_OF, con, config=small_config())
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    mlflow.MlflowClient().log_metric(result["run_id"], "val_roc_auc", result["baseline_val_roc_auc"] - 0.01)
    decision = churn.promote_churn(result["model_version"])
    assert decision["promoted"] is False
    assert "baseline" in decision["reason"]
