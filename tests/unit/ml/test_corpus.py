"""The review corpus: the README's hash split, its counts, and star-based labels."""

from __future__ import annotations

import pandas as pd
import pytest

from rapport.ml.corpus import CORPUS_COLUMNS, corpus_bucket, corpus_split, label_from_rating, load_corpus


def test_split_reproduces_the_readme_check_values():
    assert [corpus_bucket(i) for i in range(5)] == [5, 5, 1, 8, 2]
    assert [corpus_split(i) for i in range(5)] == ["train", "train", "train", "validation", "train"]


def test_split_covers_buckets_as_documented():
    splits = {corpus_bucket(i): corpus_split(i) for i in range(200)}
    assert splits == {**{b: "train" for b in range(8)}, 8: "validation", 9: "test"}


@pytest.mark.parametrize(
    ("rating", "label"), [(1, "negative"), (2, "negative"), (3, "neutral"), (4, "positive"), (5, "positive")]
)
def test_labels_come_from_stars(rating, label):
    assert label_from_rating(rating) == label


def test_label_rejects_ratings_outside_one_to_five():
    with pytest.raises(ValueError, match="1-5"):
        label_from_rating(0)


@pytest.fixture(scope="module")
def corpus_with_empty_texts() -> pd.DataFrame:
    return load_corpus(drop_empty=False)


def test_split_counts_match_the_readme(corpus_with_empty_texts):
    counts = corpus_with_empty_texts.groupby(["split", "rating"]).size().unstack()
    assert counts.sum(axis=1).to_dict() == {"test": 2441, "train": 18690, "validation": 2355}
    assert counts.loc["train"].tolist() == [683, 1265, 2317, 4014, 10411]
    assert counts.loc["validation"].tolist() == [82, 147, 269, 516, 1341]
    assert counts.loc["test"].tolist() == [77, 153, 285, 547, 1379]


def test_empty_texts_are_dropped_after_splitting(corpus_with_empty_texts):
    corpus = load_corpus()
    assert list(corpus.columns) == list(CORPUS_COLUMNS)
    assert len(corpus) == 22641
    assert corpus["review_text"].str.strip().ne("").all()
    kept = corpus_with_empty_texts.set_index("row_id").loc[corpus["row_id"], "split"]
    assert (kept.to_numpy() == corpus["split"].to_numpy()).all()


def test_missing_corpus_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="RAPPORT_REVIEWS_CORPUS"):
        load_corpus(tmp_path / "nope.csv")


def test_shipped_corpus_is_the_original_file():
    import gzip
    import hashlib

    from rapport.settings import get_settings

    data = gzip.decompress(get_settings().reviews_corpus.read_bytes())
    assert hashlib.sha256(data).hexdigest() == "bd93cc515747ad1f87b8bc863c9e40da758509e6db6506a96d06976e61e36ee0"
