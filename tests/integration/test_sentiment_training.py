"""Sentiment training end to end on a tiny sample: MLflow runs, registry, pyfunc, and scores written back."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def home(module_home):
    return module_home


@pytest.fixture(scope="module")
def trained(home):
    from rapport.ml.sentiment import train_sentiment

    return train_sentiment(as_of=date(2026, 11, 1), train_size=60, eval_size=30)


def test_training_logs_runs_and_registers_without_promoting(trained, home):
    from mlflow import MlflowClient

    from rapport.ml.registry import champion_version

    client = MlflowClient()
    run = client.get_run(trained["run_id"])
    assert {"val_accuracy", "val_macro_f1", "val_brier", "val_ece", "baseline_lexicon_val_macro_f1"} <= set(
        run.data.metrics
    )
    assert run.data.params["as_of"] == "2026-11-01" and len(run.data.params["corpus_sha256"]) == 64
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "rapport/sentiment"
    assert experiment.artifact_location.startswith((home / "mlartifacts").as_uri())
    lexicon = client.search_runs([experiment.experiment_id], filter_string="tags.baseline = 'lexicon'")
    assert len(lexicon) == 1 and "val_macro_f1" in lexicon[0].data.metrics
    version = client.get_model_version("rapport-sentiment", trained["model_version"])
    assert version.run_id == trained["run_id"]
    assert champion_version("rapport-sentiment") is None


def test_registered_pyfunc_predicts_score_columns(trained):
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/rapport-sentiment/{trained['model_version']}")
    assert model.metadata.get_input_schema().input_names() == ["text"]
    predicted = model.predict(pd.DataFrame({"text": ["love it", "hate it"]}))
    assert list(predicted.columns) == ["label", "score", "p_negative", "p_neutral", "p_positive"]


def test_promotion_gate_records_its_decision(trained):
    from mlflow import MlflowClient

    from rapport.ml.sentiment import promote_sentiment

    decision = promote_sentiment(trained["model_version"])
    assert decision["reference"] == pytest.approx(trained["baseline_lexicon_val_macro_f1"], abs=1e-4)
    tags = MlflowClient().get_model_version("rapport-sentiment", trained["model_version"]).tags
    assert tags["promotion_decision"] == ("promoted" if decision["promoted"] else "rejected")


def test_score_reviews_replaces_its_partition(trained, home):
    from rapport import warehouse
    from rapport.ml.sentiment import SentimentScorer, score_reviews

    con = warehouse.connect(home / "warehouse.duckdb")
    con.execute(
        "create table staging.stg_shop__reviews (review_id varchar, customer_id varchar, product_id varchar, "
        "reviewed_at timestamp, rating integer, title varchar, review_text varchar)"
    )
    rows = [
        ("r1", "c1", "p1", datetime(2026, 10, 30, 9), 5, None, "Love it, perfect fit."),
        ("r2", "c1", "p2", datetime(2026, 10, 31, 23, 59), 1, "No", "Cheap fabric, returned it."),
        ("r3", "c2", "p1", datetime(2026, 10, 31, 12), 3, None, "   "),
        ("r4", "c2", "p1", datetime(2026, 11, 1, 0, 0), 4, None, "Written on the as-of date: not before it."),
        ("r5", "c3", "p1", datetime(2026, 10, 2, 8), 2, None, "Too small. No profiling consent, never scored."),
    ]
    con.executemany("insert into staging.stg_shop__reviews values (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "create table marts.ml_customer_features as select * from (values "
        "('c1', date '2026-11-01', true), ('c2', date '2026-11-01', true), ('c3', date '2026-11-01', false)) "
        "as t(customer_id, as_of_date, has_profiling_consent)"
    )
    scorer = SentimentScorer.load(trained["model_dir"])
    as_of = date(2026, 11, 1)

    assert score_reviews(con, as_of, "run-1", scorer) == 2
    assert score_reviews(con, as_of, "run-2", scorer) == 2
    written = con.execute("select * from ml.review_sentiment order by review_id").df()
    assert written["review_id"].tolist() == ["r1", "r2"]
    assert set(written["scoring_run_id"]) == {"run-2"}
    assert (written["as_of_date"].astype(str) == "2026-11-01").all()
    assert written["model_version"].str.startswith("path:").all()
    assert score_reviews(con, date(2026, 10, 1), "run-3", scorer) == 0
    assert con.execute("select count(*) from ml.review_sentiment").fetchone()[0] == 2
    con.close()
