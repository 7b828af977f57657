"""The review corpus the simulator draws texts from: only its validation and test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HELD_OUT_BUCKETS = (8, 9)


def split_bucket(row_id: int) -> int:
    """The corpus README's split bucket: SHA-256 of the decimal row id, mod 10 (8 validation, 9 test)."""
    return int(hashlib.sha256(str(row_id).encode("utf-8")).hexdigest(), 16) % 10


@dataclass(frozen=True)
class ReviewPool:
    """Held-out corpus reviews grouped by star rating."""

    row_ids: dict[int, np.ndarray]
    titles: dict[int, np.ndarray]
    texts: dict[int, np.ndarray]

    def draw(self, ratings: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One corpus review per requested rating: (row ids, titles with '' for none, texts)."""
        row_ids = np.zeros(len(ratings), dtype=np.int64)
        titles = np.empty(len(ratings), dtype=object)
        texts = np.empty(len(ratings), dtype=object)
        for rating in range(1, 6):
            where = np.flatnonzero(ratings == rating)
            if len(where) == 0:
                continue
            pick = rng.integers(0, len(self.row_ids[rating]), len(where))
            row_ids[where] = self.row_ids[rating][pick]
            titles[where] = self.titles[rating][pick]
            texts[where] = self.texts[rating][pick]
        return row_ids, titles, texts


def load_review_pool(path: Path) -> ReviewPool:
    """Read the CC0 clothing-review corpus and keep non-empty texts in the validation and test splits."""
    if not path.is_file():
        raise FileNotFoundError(
            f"review corpus not found at {path}; set RAPPORT_REVIEWS_CORPUS to the path of "
            "the review corpus (the repo ships it as data/reviews/womens_clothing_ecommerce_reviews.csv.gz)"
        )
    frame = pd.read_csv(path).rename(columns={"Unnamed: 0": "row_id"})
    buckets = frame["row_id"].map(split_bucket)
    frame = frame[buckets.isin(HELD_OUT_BUCKETS) & frame["Review Text"].notna()]
    frame = frame.sort_values("row_id")
    pool: dict[str, dict[int, np.ndarray]] = {"row_ids": {}, "titles": {}, "texts": {}}
    for rating in range(1, 6):
        part = frame[frame["Rating"] == rating]
        if part.empty:
            raise ValueError(f"review corpus {path} has no held-out review with rating {rating}")
        pool["row_ids"][rating] = part["row_id"].to_numpy(dtype=np.int64)
        pool["titles"][rating] = part["Title"].fillna("").astype(str).to_numpy(dtype=object)
        pool["texts"][rating] = part["Review Text"].astype(str).to_numpy(dtype=object)
    return ReviewPool(**pool)
