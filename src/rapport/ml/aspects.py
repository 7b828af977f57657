"""Aspect sentiment: which aspects (delivery, price, quality, ...) a review talks about, and how it feels about each.

A review mentions an aspect when one of its clauses holds one of the aspect's keywords
(``aspects`` in ``ml/sentiment/config.yaml``). The aspect's sentiment is the review model's own,
run on just those clauses and averaged over them, so "Love the colour but the fabric pilled" is
positive overall and negative on quality.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rapport.ml.corpus import LABELS

ASPECT_COLUMNS = ("aspect", "mentions", "label", "score")
_CLAUSE_BREAK = re.compile(r"(?<=[.!?;])\s+|\s*\n+\s*|,?\s+\b(?:but|however|although|though|yet|except)\b\s+", re.I)


def aspect_patterns(aspects: Mapping[str, Sequence[str]]) -> dict[str, re.Pattern]:
    """One whole-word, case-insensitive pattern per aspect from its keywords."""
    patterns = {}
    for aspect, keywords in aspects.items():
        words = [str(k).strip() for k in keywords or () if str(k).strip()]
        if not words:
            raise ValueError(f"aspect {aspect!r} in ml/sentiment/config.yaml has no keywords")
        alternatives = "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True))
        patterns[str(aspect)] = re.compile(rf"\b(?:{alternatives})\b", re.I)
    return patterns


def split_clauses(text: str) -> list[str]:
    """Sentences, further cut at contrast words (but, however, although, ...), without empty pieces."""
    return [clause.strip() for clause in _CLAUSE_BREAK.split(str(text or "")) if clause and clause.strip()]


def aspect_mentions(texts: Sequence[str], patterns: Mapping[str, re.Pattern]) -> pd.DataFrame:
    """One row per (text, aspect, clause) where the clause mentions the aspect: text_index, aspect, clause."""
    rows = [
        (index, aspect, clause)
        for index, text in enumerate(texts)
        for clause in split_clauses(text)
        for aspect, pattern in patterns.items()
        if pattern.search(clause)
    ]
    return pd.DataFrame(rows, columns=["text_index", "aspect", "clause"])


def score_aspects(texts: Sequence[str], patterns: Mapping[str, re.Pattern], scorer) -> pd.DataFrame:
    """Per text and mentioned aspect: mentions (clauses), label and score (p_positive - p_negative, -1..1).

    Each distinct clause is scored once with ``scorer`` (a :class:`~rapport.ml.sentiment.SentimentScorer`);
    an aspect's probabilities are the mean over its clauses.
    """
    mentions = aspect_mentions(texts, patterns)
    if mentions.empty:
        return pd.DataFrame(
            {"text_index": pd.Series([], dtype="int64"), **{c: pd.Series([], dtype=object) for c in ASPECT_COLUMNS}}
        )
    clauses = mentions["clause"].drop_duplicates().tolist()
    probabilities = pd.DataFrame(scorer.probabilities(clauses), columns=list(LABELS), index=clauses)
    per_mention = probabilities.loc[mentions["clause"]].set_axis(mentions.index)
    pooled = pd.concat([mentions[["text_index", "aspect"]], per_mention], axis=1).groupby(
        ["text_index", "aspect"], sort=True
    )
    frame = pooled[list(LABELS)].mean()
    return pd.DataFrame(
        {
            "mentions": pooled.size().astype("int64"),
            "label": np.asarray(LABELS, dtype=object)[frame.to_numpy().argmax(axis=1)],
            "score": frame["positive"] - frame["negative"],
        }
    ).reset_index()
