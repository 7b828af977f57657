# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Where the sentiment model is wrong, and why
#
# The `@champion` sentiment model scores a sample of the review corpus's **test** split (never
# trained on), and this notebook looks at its mistakes: which classes it confuses, whether long or
# short reviews suffer, and the confident errors a human would read first. Star ratings are the
# labels (1–2 negative, 3 neutral, 4–5 positive), so some "errors" are reviews whose text and stars
# disagree. Set `SAMPLE` higher for a fuller picture. Run `make demo` first.

# %%
import os

import numpy as np
import pandas as pd
import plotly.express as px

from rapport.ml.corpus import LABELS, load_corpus
from rapport.ml.sentiment import SentimentScorer, review_inputs
from rapport.report import PALETTE, show_figure

SAMPLE = int(os.environ.get("RAPPORT_NOTEBOOK_SAMPLE", "300"))
test = load_corpus()
test = test[test["split"] == "test"].sample(n=min(SAMPLE, (test["split"] == "test").sum()), random_state=7)
scorer = SentimentScorer.load("champion")
predictions = scorer.score(review_inputs(test)).rename(columns={"label": "predicted"})
scored = pd.concat([test.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
print(f"model {scorer.model_name} v{scorer.model_version}: {len(scored)} test reviews")

# %% [markdown]
# ## Confusion matrix (rows: stars say; columns: model says)

# %%
confusion = pd.crosstab(scored["label"], scored["predicted"]).reindex(index=LABELS, columns=LABELS, fill_value=0)
print(confusion)
accuracy = float(np.trace(confusion.to_numpy()) / confusion.to_numpy().sum())
print(f"accuracy {accuracy:.3f}")
assert confusion.to_numpy().sum() == len(scored)
fig = px.imshow(
    confusion,
    text_auto=True,
    color_continuous_scale="Blues",
    labels={"x": "model says", "y": "stars say", "color": "reviews"},
    title="Sentiment confusion on the corpus test split",
)
show_figure(fig, "03_confusion")

# %% [markdown]
# ## Error rate by review length and by star rating
# Neutral (3-star) reviews mix praise and complaint; they are the hardest class.

# %%
scored["words"] = scored["review_text"].fillna("").str.split().str.len()
scored["length"] = pd.cut(scored["words"], [0, 25, 50, 75, 200], labels=["<=25", "26-50", "51-75", ">75"])
scored["wrong"] = scored["label"] != scored["predicted"]
by_length = scored.groupby("length", observed=True)["wrong"].agg(["mean", "size"]).rename(columns={"mean": "error"})
by_rating = scored.groupby("rating")["wrong"].agg(["mean", "size"]).rename(columns={"mean": "error"})
print(by_length.round(3), "\n", by_rating.round(3))
fig = px.bar(
    by_rating.reset_index(),
    x="rating",
    y="error",
    color_discrete_sequence=PALETTE,
    title="Error rate by star rating",
    labels={"rating": "stars", "error": "share of reviews misclassified"},
)
show_figure(fig, "03_error_by_rating")

# %% [markdown]
# ## The most confident mistakes
# Often the stars and the words disagree ("love the color, but it ran in the wash" with 4 stars).

# %%
scored["confidence"] = scored[["p_negative", "p_neutral", "p_positive"]].max(axis=1)
mistakes = scored[scored["wrong"]].sort_values("confidence", ascending=False)
for _, row in mistakes.head(8).iterrows():
    print(
        f"[{row['rating']}* {row['label']} -> {row['predicted']} @ {row['confidence']:.2f}] {row['review_text'][:220]}"
    )
print("analysed sentiment errors:", int(scored["wrong"].sum()), "of", len(scored))
