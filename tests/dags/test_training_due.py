"""When a training run retrains: forced, no @champion yet, or a champion older than RAPPORT_RETRAIN_AFTER_DAYS."""

from __future__ import annotations

import pytest

from rapport import pipeline

pytestmark = pytest.mark.slow


@pytest.fixture()
def churn_champion(module_home):
    """Register a version of rapport-churn and give it the champion alias, in the module's own MLflow store."""
    from mlflow import MlflowClient

    from rapport.ml.registry import CHAMPION_ALIAS, configure_mlflow

    configure_mlflow()
    client = MlflowClient()
    client.create_registered_model("rapport-churn")
    version = client.create_model_version("rapport-churn", source=str(module_home / "model"))
    client.set_registered_model_alias("rapport-churn", CHAMPION_ALIAS, version.version)
    return version


def test_a_model_without_champion_is_due(module_home):
    due = pipeline.training_due("nbo")
    assert due["due"] is True and "no @champion" in due["reason"]


def test_a_fresh_champion_is_skipped_unless_forced_or_old_enough(churn_champion, monkeypatch):
    monkeypatch.setenv("RAPPORT_RETRAIN_AFTER_DAYS", "7")
    fresh = pipeline.training_due("churn")
    assert fresh["due"] is False
    assert f"version {churn_champion.version}" in fresh["reason"] and "younger than 7 days" in fresh["reason"]
    assert pipeline.training_due("churn", force=True)["due"] is True
    monkeypatch.setenv("RAPPORT_RETRAIN_AFTER_DAYS", "0")
    assert pipeline.training_due("churn")["due"] is True


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model 'churm'"):
        pipeline.training_due("churm")
