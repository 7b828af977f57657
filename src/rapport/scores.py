"""The score tables of schema ``ml``: one declaration each, read by the writers, dbt, GX and publishing.

Every table is keyed by its entity, the as-of date and the model, and is replaced one
(as_of_date, model_name) partition at a time (``warehouse.replace_partition``). The tables are
created empty up front (``ensure_score_tables``) so that the dbt score marts and the gates can read
them before a model has ever scored, and a column added here reaches an existing warehouse
(``alter table ... add column``) instead of breaking the next write.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class ScoreColumn:
    name: str
    type: str  # DuckDB type
    description: str


@dataclass(frozen=True)
class ScoreTable:
    name: str  # schema-qualified, e.g. "ml.churn_scores"
    description: str
    key: tuple[str, ...]
    columns: tuple[ScoreColumn, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _run_columns() -> tuple[ScoreColumn, ...]:
    """The provenance every score row carries."""
    return (
        ScoreColumn("as_of_date", "date", "The date the score is as of: features from before it only."),
        ScoreColumn("model_name", "varchar", "Registered MLflow model that produced the score."),
        ScoreColumn("model_version", "varchar", "Its registry version (the @champion at scoring time)."),
        ScoreColumn("scoring_run_id", "varchar", "The pipeline run that wrote the row."),
        ScoreColumn("scored_at", "timestamp", "When the row was written (UTC)."),
    )


SCORE_TABLES: dict[str, ScoreTable] = {
    table.name: table
    for table in (
        ScoreTable(
            "ml.churn_scores",
            "Churn risk per active, profiling-consented customer: one row per customer, as-of date and model.",
            ("customer_id", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("churn_probability", "double", "Probability of no purchase in the horizon, 0..1."),
                ScoreColumn("risk_band", "varchar", "low / medium / high, from the config's thresholds."),
                ScoreColumn("reason_1", "varchar", "Strongest driver of the score (SHAP), in plain words."),
                ScoreColumn("reason_2", "varchar", "Second driver."),
                ScoreColumn("reason_3", "varchar", "Third driver."),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.clv_scores",
            "Predicted customer value per customer: one row per customer, as-of date and model.",
            ("customer_id", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("predicted_clv_365d", "double", "Predicted spend in the 365 days after the as-of date."),
                ScoreColumn("expected_orders_365d", "double", "Predicted orders in the 365 days after the as-of date."),
                ScoreColumn("method", "varchar", "The model that won the holdout: bgnbd_gamma_gamma or xgboost."),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.churn_scores_shadow",
            "Champion and latest challenger churn probabilities on the same batch, for a configured number of "
            "as-of dates: one row per customer, as-of date and model.",
            ("customer_id", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("champion_version", "varchar", "The @champion version that wrote ml.churn_scores."),
                ScoreColumn("champion_probability", "double", "The champion's churn probability, 0..1."),
                ScoreColumn("challenger_probability", "double", "The challenger's (model_version) churn probability."),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.offer_recommendations",
            "Allowed offers ranked by expected incremental value per customer (consent, eligibility, cool-down "
            "and fatigue passed): one row per customer, rank, as-of date and model. Send only is_selected rows.",
            ("customer_id", "rank", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("rank", "integer", "1 = the best offer for this customer."),
                ScoreColumn("offer_id", "varchar", "The recommended offer."),
                ScoreColumn("offer_type", "varchar", "Its type (the catalog's rules apply per type)."),
                ScoreColumn("channel", "varchar", "The consented channel it goes through."),
                ScoreColumn("uplift", "double", "Response probability the offer causes: treated minus control, -1..1."),
                ScoreColumn("propensity", "double", "Probability the customer responds to the offer, 0..1."),
                ScoreColumn("value_at_stake", "double", "Customer value x offer margin (x churn risk for retention)."),
                ScoreColumn("cost", "double", "Send cost + unit cost x propensity, in currency units."),
                ScoreColumn("expected_value", "double", "uplift x value_at_stake - cost, in currency units."),
                ScoreColumn("is_holdout", "boolean", "In the randomised holdout group: gets no offer."),
                ScoreColumn("is_selected", "boolean", "Allocated under channel capacity and budget: to be sent."),
                ScoreColumn("reason", "varchar", "Why this offer: value arithmetic, rule path and uplift drivers."),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.offer_suppressions",
            "Who gets no offer and why: each (customer, offer) pair a hard rule removed (consent, eligibility, "
            "cool-down, fatigue), and each customer's best offer when held out, not worth it, or out of capacity "
            "or budget. One row per customer, offer, as-of date and model.",
            ("customer_id", "offer_id", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("offer_id", "varchar", "The offer not sent."),
                ScoreColumn("offer_type", "varchar", "Its type."),
                ScoreColumn("channel", "varchar", "Its channel."),
                ScoreColumn(
                    "reason",
                    "varchar",
                    "no_profiling_consent / no_marketing_consent / no_channel_consent / not_eligible / cool_down / "
                    "fatigue / holdout / no_positive_value / capacity / budget.",
                ),
                ScoreColumn(
                    "detail", "varchar", "The rule's numbers, e.g. 'last win_back 20 d ago (cool-down 120 d)'."
                ),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.review_sentiment",
            "Sentiment of each consented customer's review: one row per review, as-of date and model.",
            ("review_id", "as_of_date", "model_name"),
            (
                ScoreColumn("review_id", "varchar", "The review."),
                ScoreColumn("customer_id", "varchar", "Its author."),
                ScoreColumn("label", "varchar", "negative / neutral / positive."),
                ScoreColumn("score", "double", "p(positive) - p(negative), in -1..1."),
                ScoreColumn("p_negative", "double", "Class probability."),
                ScoreColumn("p_neutral", "double", "Class probability."),
                ScoreColumn("p_positive", "double", "Class probability."),
                ScoreColumn(
                    "text_hash",
                    "varchar",
                    "SHA-256 of the text the model read; with model_version, decides whether a review needs rescoring.",
                ),
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.review_aspects",
            "Sentiment per aspect (delivery, price, quality, ...) a consented customer's review talks about: "
            "one row per review, aspect, as-of date and model.",
            ("review_id", "aspect", "as_of_date", "model_name"),
            (
                ScoreColumn("review_id", "varchar", "The review."),
                ScoreColumn("customer_id", "varchar", "Its author."),
                ScoreColumn("aspect", "varchar", "An aspect of ml/sentiment/config.yaml the review mentions."),
                ScoreColumn("mentions", "integer", "Clauses of the review that mention the aspect."),
                ScoreColumn("score", "double", "p(positive) - p(negative) of those clauses, averaged, in -1..1."),
                ScoreColumn("label", "varchar", "negative / neutral / positive."),
                ScoreColumn("text_hash", "varchar", "SHA-256 of the review text the aspects were read from."),
                *_run_columns(),
            ),
        ),
    )
}


def _ddl(table: ScoreTable) -> str:
    columns = ", ".join(f"{c.name} {c.type}" for c in table.columns)
    return f"create table if not exists {table.name} ({columns})"


def ensure_score_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every declared score table, and add declared columns an older warehouse lacks."""
    con.execute("create schema if not exists ml")
    for table in SCORE_TABLES.values():
        con.execute(_ddl(table))
        for column in table.columns:
            con.execute(f"alter table {table.name} add column if not exists {column.name} {column.type}")
