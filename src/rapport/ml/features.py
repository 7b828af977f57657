"""Features and labels as of a date: cutoff calendars, training and scoring frames, splits and metrics.

Features in ``marts.ml_customer_features`` are computed by dbt from data before each cutoff; churn labels
in ``marts.ml_churn_labels`` come from the ``horizon_days`` after it. Only customers who consented to
profiling are ever read here, for training or for scoring.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from rapport.ml.evaluation import binary_metrics as binary_metrics  # moved there; re-exported for callers

FEATURES_TABLE = "marts.ml_customer_features"
CHURN_LABELS_TABLE = "marts.ml_churn_labels"
NBO_TRAINING_TABLE = "marts.ml_nbo_training"
PROFILING_CONSENTED = "coalesce(cast(f.has_profiling_consent as boolean), false)"
SEGMENTS_TABLE = "intermediate.int_customer_features_as_of"
SEGMENT_COLUMNS = ("rfm_segment", "loyalty_tier", "preferred_channel")


@dataclass(frozen=True)
class ChurnCutoffs:
    """The dates a churn run uses: training cutoffs, one out-of-time holdout cutoff, and the scoring date."""

    train: tuple[date, ...]
    holdout: date
    scoring: date
    horizon_days: int

    def all(self) -> list[date]:
        """Every cutoff, sorted: the ``feature_cutoffs`` dbt must build features for."""
        return sorted({*self.train, self.holdout, self.scoring})


def churn_cutoffs(as_of: date, horizon_days: int = 90, n_train: int = 3, step_days: int = 30) -> ChurnCutoffs:
    """Cutoffs for a churn run as of ``as_of``.

    The holdout cutoff is ``as_of - horizon`` (its label window ends on ``as_of``). Training cutoffs are
    ``holdout - horizon - k * step``, so the latest training label window ends where the holdout's begins
    and no training label sees the holdout period.
    """
    if horizon_days <= 0 or n_train <= 0 or step_days <= 0:
        raise ValueError("horizon_days, n_train and step_days must be positive")
    holdout = as_of - timedelta(days=horizon_days)
    latest_train = holdout - timedelta(days=horizon_days)
    train = tuple(sorted(latest_train - timedelta(days=k * step_days) for k in range(n_train)))
    return ChurnCutoffs(train=train, holdout=holdout, scoring=as_of, horizon_days=horizon_days)


def churn_horizon_days(config: dict | None = None) -> int:
    """The churn label horizon: ``RAPPORT_CHURN_HORIZON_DAYS`` if set, else ``horizon_days`` in ml/churn/config.yaml."""
    override = os.environ.get("RAPPORT_CHURN_HORIZON_DAYS")
    if override:
        return int(override)
    from rapport.ml.config import load_model_config

    return int((config or load_model_config("churn")).get("horizon_days", 90))


def configured_churn_cutoffs(as_of: date, config: dict | None = None) -> ChurnCutoffs:
    """The cutoffs of a churn run as configured: the one calendar dbt builds and training reads."""
    from rapport.ml.config import load_model_config

    config = config or load_model_config("churn")
    return churn_cutoffs(as_of, churn_horizon_days(config), **config.get("cutoffs", {}))


def nbo_feature_dates(con: duckdb.DuckDBPyConnection, as_of: date) -> list[date]:
    """Distinct offer send dates before ``as_of``: the dates NBO training needs features for."""
    rows = con.execute(
        "select distinct cast(sent_at as date) as sent_date from raw.offer_responses "
        "where cast(sent_at as date) < ? order by sent_date",
        [as_of],
    ).fetchall()
    return [row[0] for row in rows]


def load_training_frame(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """Features joined with churn labels at ``cutoffs``, for customers with profiling consent only."""
    if not cutoffs:
        raise ValueError("load_training_frame needs at least one cutoff")
    return con.execute(
        f"""
        select f.*, cast(l.is_churned as boolean) as is_churned
        from {FEATURES_TABLE} as f
        join {CHURN_LABELS_TABLE} as l
          on l.customer_id = f.customer_id and l.as_of_date = f.as_of_date
        where f.as_of_date in (select unnest(cast(? as date[]))) and {PROFILING_CONSENTED}
        order by f.as_of_date, f.customer_id
        """,
        [list(cutoffs)],
    ).df()


def load_scoring_frame(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Features at ``as_of`` for customers with profiling consent: who may be scored."""
    return con.execute(
        f"select f.* from {FEATURES_TABLE} as f where f.as_of_date = ? and {PROFILING_CONSENTED} "
        "order by f.customer_id",
        [as_of],
    ).df()


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input: ``features`` in order, as float64 (missing values stay NaN)."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise KeyError(f"feature columns missing from the frame: {missing}")
    return frame[features].astype("float64")


def customer_holdout_mask(customer_ids: pd.Series, share: float) -> np.ndarray:
    """True for a stable ``share`` of customers (by hash), so one customer never sits on both sides."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    buckets = customer_ids.astype(str).map(lambda cid: int(hashlib.sha256(cid.encode()).hexdigest()[:8], 16) % 1000)
    return (buckets < int(share * 1000)).to_numpy()


def data_version(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's columns and values: what a run was trained on."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def load_segments(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """RFM segment, loyalty tier and preferred channel per customer at ``cutoffs``: the slices a model is judged on.

    They come from dbt's feature model (the mart keeps only numeric model inputs); missing values read ``unknown``.
    """
    schema, name = SEGMENTS_TABLE.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()[0]
    if not exists:
        raise LookupError(f"{SEGMENTS_TABLE} does not exist: run the dbt build (rapport transform) first")
    columns = ", ".join(f"coalesce(cast({c} as varchar), 'unknown') as {c}" for c in SEGMENT_COLUMNS)
    return con.execute(
        f"select customer_id, as_of_date, {columns} from {SEGMENTS_TABLE} "
        "where as_of_date in (select unnest(cast(? as date[])))",
        [list(cutoffs)],
    ).df()
