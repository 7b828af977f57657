"""The labelled review corpus: reading it, its hash split and its star-based sentiment labels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from rapport.settings import get_settings

SPLITS = ("train", "validation", "test")
LABELS = ("negative", "neutral", "positive")
CORPUS_COLUMNS = ("row_id", "title", "review_text", "rating", "split", "label")


def corpus_bucket(row_id: int) -> int:
    """Hash bucket 0-9 of a corpus row id: sha256 of its decimal string, mod 10."""
    return int(hashlib.sha256(str(int(row_id)).encode("utf-8")).hexdigest(), 16) % 10


def corpus_split(row_id: int) -> str:
    """Split of a corpus row: buckets 0-7 train, 8 validation, 9 test (the corpus README's rule)."""
    bucket = corpus_bucket(row_id)
    if bucket < 8:
        return "train"
    return "validation" if bucket == 8 else "test"


def label_from_rating(rating: int) -> str:
    """Sentiment label from stars: 1-2 negative, 3 neutral, 4-5 positive."""
    rating = int(rating)
    if not 1 <= rating <= 5:
        raise ValueError(f"rating must be 1-5 stars, got {rating}")
    if rating <= 2:
        return "negative"
    return "neutral" if rating == 3 else "positive"


def load_corpus(path: str | Path | None = None, drop_empty: bool = True) -> pd.DataFrame:
    """Read the review corpus with its split and label; empty texts are dropped after splitting.

    Columns: row_id, title, review_text, rating, split, label.
    """
    path = Path(path or get_settings().reviews_corpus)
    if not path.exists():
        raise FileNotFoundError(f"review corpus not found at {path}; set RAPPORT_REVIEWS_CORPUS")
    raw = pd.read_csv(path)
    raw = raw.rename(
        columns={"Unnamed: 0": "row_id", "Title": "title", "Review Text": "review_text", "Rating": "rating"}
    )
    missing = {"row_id", "title", "review_text", "rating"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path} is not the review corpus: it lacks columns {sorted(missing)}")
    frame = raw[["row_id", "title", "review_text", "rating"]].copy()
    frame["row_id"] = frame["row_id"].astype("int64")
    frame["rating"] = frame["rating"].astype("int64")
    frame["split"] = frame["row_id"].map(corpus_split)
    frame["label"] = frame["rating"].map(label_from_rating)
    if drop_empty:
        text = frame["review_text"].fillna("").astype(str).str.strip()
        frame = frame[text != ""].reset_index(drop=True)
    return frame[list(CORPUS_COLUMNS)]
