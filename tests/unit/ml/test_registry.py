"""The champion gate against a throwaway SQLite tracking store."""

from __future__ import annotations

import pytest

MODEL = "rapport-test-model"


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from rapport.ml.registry import configure_mlflow, get_or_create_experiment

    configure_mlflow()
    return get_or_create_experiment("rapport/test")


def _register_version(experiment_id: str, auc: float) -> str:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_metric("val_auc", auc)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=MODEL, pip_requirements=["scikit-learn"]
        )
    return str(info.registered_model_version)


def test_experiment_is_created_once_under_mlartifacts(tracking, tmp_path):
    import mlflow

    from rapport.ml.registry import get_or_create_experiment

    assert get_or_create_experiment("rapport/test") == tracking
    location = mlflow.get_experiment(tracking).artifact_location
    assert location.startswith("file://") and str(tmp_path / "mlartifacts") in location


def test_champion_gate(tracking):
    from mlflow import MlflowClient

    from rapport.ml.registry import champion_version, promote_if_better

    assert champion_version(MODEL) is None
    first = _register_version(tracking, 0.70)
    rejected = promote_if_better(MODEL, first, "val_auc", baseline_value=0.75)
    assert not rejected["promoted"] and "baseline" in rejected["reason"]
    assert champion_version(MODEL) is None

    accepted = promote_if_better(MODEL, first, "val_auc", margin=0.05, baseline_value=0.69)
    assert accepted["promoted"]
    assert str(champion_version(MODEL).version) == first

    second = _register_version(tracking, 0.705)
    within_margin = promote_if_better(MODEL, second, "val_auc", margin=0.01)
    assert not within_margin["promoted"] and within_margin["reference"] == pytest.approx(0.70)
    assert str(champion_version(MODEL).version) == first

    third = _register_version(tracking, 0.80)
    assert promote_if_better(MODEL, third, "val_auc", margin=0.01)["promoted"]
    assert str(champion_version(MODEL).version) == third
    assert not promote_if_better(MODEL, third, "val_auc")["promoted"]

    tags = MlflowClient().get_model_version(MODEL, second).tags
    assert tags["promotion_decision"] == "rejected" and "champion version" in tags["promotion_reason"]


def test_lower_is_better_and_missing_metric(tracking):
    from rapport.ml.registry import promote_if_better

    version = _register_version(tracking, 0.30)
    assert promote_if_better(MODEL, version, "val_auc", higher_is_better=False, baseline_value=0.50)["promoted"]
    with pytest.raises(KeyError, match="no metric"):
        promote_if_better(MODEL, version, "val_rmse")
