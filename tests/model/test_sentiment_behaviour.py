"""Behaviour of the sentiment model trained on a few hundred corpus reviews (one training per module)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapport.ml.sentiment import classification_metrics, lexicon_labels, lexicon_scores, scores_frame

POSITIVE = "I absolutely love this dress! The fit is perfect, the fabric is soft and I get compliments every time."
NEGATED = "I do not love this dress. The fit is not perfect, the fabric is not soft and I never get compliments."


@pytest.fixture(scope="module")
def trained(module_home):
    """Train on 600 training-split reviews in a throwaway RAPPORT_HOME; the promotion gate must let it through."""
    from rapport.ml.sentiment import promote_sentiment, train_sentiment

    result = train_sentiment(train_size=600, eval_size=300)
    decision = promote_sentiment(result["model_version"])
    return {**result, "home": module_home, "decision": decision}


@pytest.fixture(scope="module")
def scorer(trained):
    from rapport.ml.sentiment import SentimentScorer

    return SentimentScorer.load(trained["model_dir"])


@pytest.mark.slow
def test_training_reports_metrics_beside_baselines(trained):
    for prefix in ("val", "baseline_lexicon_val", "baseline_majority_val"):
        assert 0.0 <= trained[f"{prefix}_accuracy"] <= 1.0
        assert 0.0 <= trained[f"{prefix}_macro_f1"] <= 1.0
        assert 0.0 <= trained[f"{prefix}_brier"] <= 2.0
    assert trained["train_rows"] == 600 and trained["eval_rows"] == 300


@pytest.mark.slow
def test_model_beats_the_lexicon_baseline_through_the_promotion_gate(trained):
    assert trained["val_macro_f1"] > trained["baseline_lexicon_val_macro_f1"] + 0.01
    assert trained["decision"]["promoted"]


@pytest.mark.slow
def test_clearly_positive_text_is_positive_and_negation_lowers_it(scorer):
    scored = scorer.score([POSITIVE, NEGATED])
    assert scored.loc[0, "label"] == "positive"
    assert scored.loc[1, "score"] < scored.loc[0, "score"]


@pytest.mark.slow
def test_complaint_scores_below_praise(scorer):
    scored = scorer.score([POSITIVE, "Terrible quality, it ripped after one wash and looked cheap. I returned it."])
    assert scored.loc[1, "score"] < scored.loc[0, "score"]
    assert scored.loc[1, "label"] != "positive"


@pytest.mark.slow
def test_name_swap_keeps_the_label(scorer):
    scored = scorer.score(
        [
            "Bought this for my sister Anna, she loves the colour.",
            "Bought this for my sister Maria, she loves the colour.",
        ]
    )
    assert scored.loc[0, "label"] == scored.loc[1, "label"]


@pytest.mark.slow
def test_output_columns_and_ranges(scorer):
    texts = (t for t in [POSITIVE, NEGATED, "", "ok", None])
    scored = scorer.score(texts, batch_size=2)
    assert list(scored.columns) == ["label", "score", "p_negative", "p_neutral", "p_positive"]
    assert len(scored) == 5
    assert set(scored["label"]) <= {"negative", "neutral", "positive"}
    probabilities = scored[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert scored["score"].between(-1, 1).all()
    np.testing.assert_allclose(scored["score"], scored["p_positive"] - scored["p_negative"])


@pytest.mark.slow
def test_order_and_batching_do_not_change_scores(scorer):
    texts = [POSITIVE, NEGATED, "ok", "Runs small, size up. Otherwise lovely."]
    one = scorer.score(texts, batch_size=1)
    many = scorer.score(texts[::-1], batch_size=4).iloc[::-1].reset_index(drop=True)
    np.testing.assert_allclose(one["p_positive"], many["p_positive"], atol=1e-5)


@pytest.mark.slow
def test_text_over_512_tokens_is_truncated_not_an_error(scorer):
    scored = scorer.score([" ".join(["lovely"] * 2000)])
    assert len(scored) == 1 and scorer.max_length <= 512


@pytest.mark.slow
def test_local_folder_and_champion_give_the_same_scores(trained, scorer, monkeypatch):
    from rapport.ml.sentiment import SentimentScorer

    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    champion = SentimentScorer.load("champion")
    assert champion.model_version == trained["model_version"]
    assert champion.model_name == "rapport-sentiment"
    assert scorer.model_version.startswith("path:")
    texts = [POSITIVE, NEGATED, "It is fine, nothing special."]
    pd.testing.assert_frame_equal(champion.score(texts), scorer.score(texts))


def test_lexicon_scorer_flips_negated_words():
    scores = lexicon_scores(["love it, perfect", "did not love it", "awful and cheap", ""])
    assert scores.tolist() == [2.0, -1.0, -2.0, 0.0]
    assert lexicon_labels(scores, (-0.5, 0.5)).tolist() == ["positive", "negative", "negative", "neutral"]


def test_metrics_of_perfect_and_uniform_predictions():
    labels = ["negative", "neutral", "positive"]
    perfect = classification_metrics(labels, np.eye(3))
    assert perfect["accuracy"] == perfect["macro_f1"] == 1.0
    assert perfect["brier"] == 0.0 and perfect["ece"] == 0.0
    uniform = classification_metrics(labels, np.full((3, 3), 1 / 3))
    assert uniform["brier"] == pytest.approx(2 / 3)


def test_scores_frame_of_no_rows_has_the_columns():
    frame = scores_frame(np.empty((0, 3)))
    assert list(frame.columns) == ["label", "score", "p_negative", "p_neutral", "p_positive"] and frame.empty
