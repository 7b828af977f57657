"""Aspect sentiment: clauses, keyword matching from the config, and per-aspect pooling of clause scores."""

from __future__ import annotations

import numpy as np
import pytest

from rapport.ml.aspects import aspect_mentions, aspect_patterns, score_aspects, split_clauses
from rapport.ml.sentiment import load_sentiment_config

REVIEW = "Love the colour but the fabric pilled after one wash. Shipping was fast! It runs small; size up."


class KeywordScorer:
    """Stands in for the model: negative when a clause says pilled or small, positive otherwise."""

    def probabilities(self, texts):
        return np.array([[0.8, 0.1, 0.1] if ("pilled" in t or "small" in t) else [0.1, 0.1, 0.8] for t in texts])


@pytest.fixture(scope="module")
def patterns():
    return aspect_patterns(load_sentiment_config()["aspects"])


def test_config_lists_the_six_aspects(patterns):
    assert set(patterns) == {"delivery", "price", "quality", "service", "staff", "fit/size"}


def test_clauses_split_at_sentences_and_contrast_words():
    assert split_clauses(REVIEW) == [
        "Love the colour",
        "the fabric pilled after one wash.",
        "Shipping was fast!",
        "It runs small;",
        "size up.",
    ]
    assert split_clauses("") == [] and split_clauses(None) == []


def test_mentions_match_whole_words_only(patterns):
    mentions = aspect_mentions([REVIEW, "Great for fitness classes and shipshape."], patterns)
    found = set(zip(mentions["text_index"], mentions["aspect"], mentions["clause"], strict=True))
    assert found == {
        (0, "quality", "the fabric pilled after one wash."),
        (0, "delivery", "Shipping was fast!"),
        (0, "fit/size", "It runs small;"),
        (0, "fit/size", "size up."),
    }


def test_multi_word_keywords_match_across_spacing():
    patterns = aspect_patterns({"service": ["customer service"]})
    assert patterns["service"].search("Their customer   service was slow")
    assert not patterns["service"].search("customer was served")


def test_aspect_without_keywords_is_rejected():
    with pytest.raises(ValueError, match="'staff'"):
        aspect_patterns({"staff": []})


def test_each_aspect_gets_the_mean_of_its_clauses(patterns):
    scored = score_aspects([REVIEW, "Nothing to see."], patterns, KeywordScorer()).set_index("aspect")
    assert sorted(scored.index) == ["delivery", "fit/size", "quality"]
    assert (scored["text_index"] == 0).all()
    assert scored.loc["quality", "label"] == "negative" and scored.loc["delivery", "label"] == "positive"
    # fit/size: "It runs small;" (0.1 - 0.8) and "size up." (0.8 - 0.1) average to 0
    assert scored.loc["fit/size", "mentions"] == 2
    assert scored.loc["fit/size", "score"] == pytest.approx(0.0)
    assert scored.loc["quality", "score"] == pytest.approx(-0.7)


def test_no_mentions_give_an_empty_frame_with_the_columns(patterns):
    scored = score_aspects(["Just lovely."], patterns, KeywordScorer())
    assert scored.empty and {"text_index", "aspect", "mentions", "label", "score"} <= set(scored.columns)
