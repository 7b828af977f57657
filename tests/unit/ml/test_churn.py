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

pytestmark = pytest.mark.slow  # each module's first MLflow call builds a SQLite store (~10 s on 2 shared cores)


def small_config() -> dict:
    config = load_model_config("churn")
    config["xgboost"] = {**config["xgboost"], "n_estimators": 60, "learning_rate": 0.2}
    config["early_stopping"] = {**config.get("early_stopping", {}), "rounds": 10}
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
    rng = np.random.default_rng(seed)
    nps = features["latest_nps"].fillna(5.0)
    logit = -1.2 + 1.3 * features["complaints_180d"] - 0.45 * (nps - 5) + 0.002 * features["recency_days"]
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
            if shuffle_labels:
                churned = pd.Series(np.random.default_rng(7 + i).permutation(churned.to_numpy()), index=churned.index)
            labels.append(features[["customer_id", "as_of_date"]].assign(is_churned=churned))
    con.register("_f", pd.concat(frames, ignore_index=True))
    con.register("_l", pd.concat(labels, ignore_index=True))
    con.execute("create or replace table marts.ml_customer_features as select * from _f")
    con.execute("create or replace table marts.ml_churn_labels as select * from _l")
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


def test_train_churn_beats_recency_baseline_and_logs_both_runs(trained):
    result = trained["result"]
    assert result["val_roc_auc"] > result["baseline_val_roc_auc"] + 0.05
    assert result["n_train_rows"] == 3 * N_CUSTOMERS * 9 // 10
    client = mlflow.MlflowClient()
    model_run = client.get_run(result["run_id"])
    baseline_run = client.get_run(result["baseline_run_id"])
    assert baseline_run.data.tags["baseline"] == "recency"
    expected = {"val_roc_auc", "val_pr_auc", "val_brier", "val_log_loss", "val_lift_top_decile"}
    assert set(baseline_run.data.metrics) == expected
    assert expected | {"baseline_val_roc_auc"} <= set(model_run.data.metrics)
    assert len(model_run.data.tags["data_version"]) == 64
    assert model_run.data.tags["cutoffs"].count(",") == 2
    assert "roc_curve.png" in {a.path for a in client.list_artifacts(result["run_id"])}


def test_training_never_sets_the_alias_and_promotion_does(trained):
    assert trained["promotion"]["promoted"] is True
    version = mlflow.MlflowClient().get_model_version_by_alias("rapport-churn", "champion")
    assert str(version.version) == trained["result"]["model_version"]


def test_worse_challenger_is_not_promoted_and_scoring_keeps_the_champion(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.setattr(churn, "load_model_config", lambda model: small_config())
    shuffled = build_warehouse(tmp_path / "shuffled.duckdb", shuffle_labels=True)
    challenger = churn.train_churn(AS_OF, shuffled, config=small_config())
    shuffled.close()
    decision = churn.promote_churn(challenger["model_version"])
    assert decision["promoted"] is False
    churn.score_churn(trained["con"], AS_OF, run_id="score-1")
    versions = trained["con"].execute("select distinct model_version from ml.churn_scores").fetchall()
    assert versions == [(trained["result"]["model_version"],)]


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
