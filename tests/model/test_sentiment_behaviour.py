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

    return SentimentScorer.load(trained["model_dir"], runtime="torch")


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


FILLER = (
    "I ordered this top in the blue colour and in a medium, which is the size I usually take in this brand. "
    "It came folded in a plastic bag with the tags on, and I tried it on with jeans and with a black skirt. "
)


def long_review(ending: str) -> str:
    """Over 512 tokens of plain description, the reviewer's verdict only in its last sentences."""
    return FILLER * 12 + ending


@pytest.mark.slow
def test_a_review_over_512_tokens_is_read_whole(scorer):
    text = long_review("Love it.")
    tokens = len(scorer.tokenizer(text)["input_ids"])
    assert tokens > 512 > scorer.max_length
    from rapport.ml.sentiment_runtime import token_windows

    windows = token_windows(scorer.tokenizer, [text], scorer.max_length, scorer.window_overlap)
    assert len(windows.input_ids) >= 3 and windows.weights.sum() >= tokens - 2
    scored = scorer.score([text])
    np.testing.assert_allclose(scored[["p_negative", "p_neutral", "p_positive"]].sum(axis=1), 1.0)


@pytest.mark.slow
def test_sentiment_only_at_the_end_of_a_long_review_counts(scorer):
    """Truncated to its first window, the two reviews would be identical; read whole, the ending decides."""
    praise = "In the end I love it: soft, flattering, perfect, my new favourite. I love it and kept it. " * 2
    complaint = "In the end I hate it: cheap, itchy, ripped at the seam after one wash. Awful, returned it. " * 2
    scored = scorer.score([long_review(praise), long_review(complaint)])
    assert scored.loc[1, "score"] < scored.loc[0, "score"] - 0.05


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known gap (goal 99%): dynamic int8 agrees on 95.75-97.25% of labels whatever the options (per channel, "
    "reduce_range, MatMul only, one layer or one kind of product left in fp32), block-wise 8-bit MatMulNBits on 98.25% "
    "without a speed-up; onnx-int8 is not the default (MODEL_CARD.md)",
)
def test_onnx_int8_runtime_agrees_with_pytorch_on_held_out_reviews(trained, scorer):
    """The int8 ONNX export gives the PyTorch model's label on >= 99% of 400 test-split reviews."""
    from rapport.ml.corpus import load_corpus
    from rapport.ml.sentiment import SentimentScorer, review_inputs

    corpus = load_corpus()
    texts = review_inputs(corpus[corpus["split"] == "test"].sample(400, random_state=7))
    int8 = SentimentScorer(
        scorer.model, scorer.tokenizer, scorer.model_name, scorer.model_version, scorer.max_length, runtime="onnx-int8"
    )
    assert int8.logits.path.name == "model.int8.onnx" and int8.logits.path.is_relative_to(trained["home"])
    torch_labels, int8_scores = scorer.score(texts)["label"], int8.score(texts)
    assert (int8_scores["label"] == torch_labels).mean() >= 0.99
    assert trained["onnx_int8_label_agreement"] >= 0.97


@pytest.mark.slow
def test_cli_scores_a_csv_file(scorer, trained, tmp_path):
    from rapport.cli import main

    source = tmp_path / "reviews.csv"
    texts = [POSITIVE, "Terrible quality, it ripped after one wash and looked cheap. I returned it.", ""]
    pd.DataFrame({"id": [1, 2, 3], "body": texts}).to_csv(source, index=False)
    target = tmp_path / "out" / "scored.parquet"
    assert (
        main(
            [
                "sentiment",
                "--input",
                str(source),
                "--text-column",
                "body",
                "--output",
                str(target),
                "--model",
                trained["model_dir"],
            ]
        )
        == 0
    )
    written = pd.read_parquet(target)
    assert list(written.columns) == ["id", "body", "label", "score", "p_negative", "p_neutral", "p_positive"]
    assert written["id"].tolist() == [1, 2, 3]
    expected = scorer.score(written["body"].tolist())
    np.testing.assert_allclose(written["score"], expected["score"], atol=0.05)
    assert written.loc[0, "label"] == "positive"


@pytest.mark.slow
def test_local_folder_and_champion_give_the_same_scores(trained, scorer, monkeypatch):
    from rapport.ml.sentiment import SentimentScorer

    monkeypatch.setenv("RAPPORT_HOME", str(trained["home"]))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    champion = SentimentScorer.load("champion", runtime="torch")
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


def test_file_scoring_names_the_file_and_the_missing_column(tmp_path, capsys):
    from rapport.cli import main

    source = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1], "text": ["fine"]}).to_csv(source, index=False)
    assert (
        main(["sentiment", "--input", str(source), "--text-column", "body", "--output", str(tmp_path / "o.csv")]) == 2
    )
    error = capsys.readouterr().err
    assert str(source) in error and "'body'" in error and "id, text" in error
    assert not (tmp_path / "o.csv").exists()


def test_file_scoring_rejects_an_unknown_file_type(tmp_path):
    from rapport.ml.sentiment import score_file

    source = tmp_path / "reviews.json"
    source.write_text("[]")
    with pytest.raises(ValueError, match=r"reviews\.json.*\.csv"):
        score_file(source, "text", tmp_path / "out.csv")
