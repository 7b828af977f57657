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
                *_run_columns(),
            ),
        ),
        ScoreTable(
            "ml.offer_recommendations",
            "Ranked offers per marketing-consented customer: one row per customer, rank, as-of date and model.",
            ("customer_id", "rank", "as_of_date", "model_name"),
            (
                ScoreColumn("customer_id", "varchar", "The customer."),
                ScoreColumn("rank", "integer", "1 = the best offer for this customer."),
                ScoreColumn("offer_id", "varchar", "The recommended offer."),
                ScoreColumn("channel", "varchar", "The consented channel it goes through."),
                ScoreColumn("propensity", "double", "Probability the customer responds to the offer, 0..1."),
                ScoreColumn("expected_value", "double", "Expected value of sending the offer, in currency units."),
                ScoreColumn("reason", "varchar", "Why this offer: top drivers and the rule path."),
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
