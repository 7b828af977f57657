"""Churn: who among active customers will place no order in the next ``horizon_days``.

Training is out-of-time (fit on earlier cutoffs, judged on a later holdout cutoff) and compared with a
recency baseline on the same holdout; it registers a version but never promotes itself. ``promote_churn``
is the gate; ``score_churn`` scores with whatever version holds ``@champion``.

The helpers ``fit_xgb_classifier``, ``log_training_runs``, ``promote_model``, ``load_champion`` and
``write_scores`` are shared with the next-best-offer model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from rapport import warehouse
from rapport.ml.config import load_model_config
from rapport.ml.features import (
    FEATURES_TABLE,
    binary_metrics,
    configured_churn_cutoffs,
    customer_holdout_mask,
    data_version,
    feature_matrix,
    load_scoring_frame,
    load_training_frame,
)

CHURN_SCORES_TABLE = "ml.churn_scores"
PROMOTION_METRIC_PREFIX = "baseline_"


@contextmanager
def reading_connection(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` as given, or a read-only warehouse connection closed afterwards."""
    if con is not None:
        yield con
        return
    own = warehouse.connect(read_only=True)
    try:
        yield own
    finally:
        own.close()


def require_both_classes(labels: pd.Series, what: str) -> None:
    """Raise unless ``labels`` holds rows of both classes."""
    if labels.empty:
        raise ValueError(f"no {what} rows: build the ML marts (dbt) for these dates first")
    if labels.nunique() < 2:
        raise ValueError(f"{what} rows hold a single class ({labels.iloc[0]!r}); cannot train or evaluate")


def fit_xgb_classifier(
    X: pd.DataFrame, y: pd.Series, customer_ids: pd.Series, config: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Fit an XGBoost classifier with the config's params and ``scale_pos_weight`` for imbalance.

    A hashed share of customers is set aside to pick the number of trees by early stopping; the final
    model is then fit on every training row with that many trees.
    """
    from xgboost import XGBClassifier

    y = y.astype(int).reset_index(drop=True)
    X = X.reset_index(drop=True)
    early = config.get("early_stopping", {})
    params = dict(config["xgboost"])
    params.setdefault("eval_metric", early.get("eval_metric", "logloss"))
    positives = int(y.sum())
    params["scale_pos_weight"] = (len(y) - positives) / positives
    mask = customer_holdout_mask(customer_ids.reset_index(drop=True), early.get("validation_share", 0.2))
    n_estimators = int(params.get("n_estimators", 100))
    if y[mask].nunique() == 2 and y[~mask].nunique() == 2:
        probe = XGBClassifier(**params, early_stopping_rounds=int(early.get("rounds", 30)))
        probe.fit(X[~mask], y[~mask], eval_set=[(X[mask], y[mask])], verbose=False)
        n_estimators = int(probe.best_iteration) + 1
    params["n_estimators"] = n_estimators
    model = XGBClassifier(**params)
    model.fit(X, y, verbose=False)
    return model, params


def recency_baseline(train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    """Baseline churn probability from ``recency_days`` alone (one-feature logistic fit on the training rows)."""
    from sklearn.linear_model import LogisticRegression

    fill = float(train["recency_days"].max()) + 1.0
    x_train = train[["recency_days"]].astype("float64").fillna(fill)
    x_holdout = holdout[["recency_days"]].astype("float64").fillna(fill)
    scale = float(x_train["recency_days"].std()) or 1.0
    baseline = LogisticRegression().fit(x_train / scale, train["is_churned"].astype(int))
    return baseline.predict_proba(x_holdout / scale)[:, 1]


def _roc_figure(y: np.ndarray, curves: dict[str, np.ndarray]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, scores in curves.items():
        fpr, tpr, _ = roc_curve(y, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the out-of-time holdout")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def log_training_runs(
    config: dict[str, Any],
    *,
    model: Any,
    X_train: pd.DataFrame,
    y_holdout: np.ndarray,
    scores: np.ndarray,
    baseline_scores: np.ndarray,
    baseline_name: str,
    params: dict[str, Any],
    tags: dict[str, str],
) -> dict[str, Any]:
    """Log the baseline and the model as two runs with the same metric names; register the model.

    The model run also carries the baseline's metrics prefixed ``baseline_`` so the promotion gate can
    read them from the version alone.
    """
    import matplotlib.pyplot as plt
    import mlflow
    import mlflow.xgboost
    import sklearn
    import xgboost
    from mlflow.models import infer_signature

    from rapport.ml.registry import configure_mlflow, get_or_create_experiment

    metrics = binary_metrics(y_holdout, scores)
    baseline_metrics = binary_metrics(y_holdout, baseline_scores)
    configure_mlflow()
    experiment_id = get_or_create_experiment(config["experiment"])
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"baseline-{baseline_name}") as baseline_run:
        mlflow.set_tags({**tags, "baseline": baseline_name})
        mlflow.log_metrics(baseline_metrics)
    with mlflow.start_run(experiment_id=experiment_id, run_name="xgboost") as run:
        mlflow.set_tags({**tags, "baseline_run_id": baseline_run.info.run_id})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({f"{PROMOTION_METRIC_PREFIX}{k}": v for k, v in baseline_metrics.items()})
        fig = _roc_figure(np.asarray(y_holdout, dtype=int), {"xgboost": scores, baseline_name: baseline_scores})
        mlflow.log_figure(fig, "roc_curve.png")
        plt.close(fig)
        example = X_train.head(5)
        info = mlflow.xgboost.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"xgboost=={xgboost.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"pandas=={pd.__version__}",
                f"numpy=={np.__version__}",
            ],
            registered_model_name=config["model_name"],
        )
    return {
        "run_id": run.info.run_id,
        "baseline_run_id": baseline_run.info.run_id,
        "model_name": config["model_name"],
        "model_version": str(info.registered_model_version),
        **metrics,
        **{f"{PROMOTION_METRIC_PREFIX}{k}": v for k, v in baseline_metrics.items()},
    }


def train_churn(as_of: date, con: duckdb.DuckDBPyConnection | None = None, *, config: dict | None = None) -> dict:
    """Train the churn model as of ``as_of`` out-of-time, beside the recency baseline; register, never promote."""
    config = config or load_model_config("churn")
    cutoffs = configured_churn_cutoffs(as_of, config)
    with reading_connection(con) as reader:
        train = load_training_frame(reader, list(cutoffs.train))
        holdout = load_training_frame(reader, [cutoffs.holdout])
    require_both_classes(train["is_churned"], f"training (cutoffs {[d.isoformat() for d in cutoffs.train]})")
    require_both_classes(holdout["is_churned"], f"holdout (cutoff {cutoffs.holdout.isoformat()})")
    features = list(config["features"])
    X_train = feature_matrix(train, features)
    model, params = fit_xgb_classifier(X_train, train["is_churned"], train["customer_id"], config)
    y_holdout = holdout["is_churned"].astype(int).to_numpy()
    scores = model.predict_proba(feature_matrix(holdout, features))[:, 1]
    result = log_training_runs(
        config,
        model=model,
        X_train=X_train,
        y_holdout=y_holdout,
        scores=scores,
        baseline_scores=recency_baseline(train, holdout),
        baseline_name="recency",
        params={
            **params,
            "horizon_days": cutoffs.horizon_days,
            "n_features": len(features),
            "n_train_rows": len(train),
            "n_holdout_rows": len(holdout),
            "train_churn_rate": round(float(train["is_churned"].mean()), 4),
        },
        tags={
            "model": "churn",
            "as_of_date": as_of.isoformat(),
            "data_version": data_version(pd.concat([train, holdout], ignore_index=True)),
            "cutoffs": ",".join(d.isoformat() for d in cutoffs.train),
            "holdout_cutoff": cutoffs.holdout.isoformat(),
        },
    )
    return {**result, "n_train_rows": len(train), "n_holdout_rows": len(holdout)}


def latest_version(model_name: str) -> str:
    """The newest registered version of ``model_name``."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise LookupError(f"registered model {model_name!r} has no versions: train it first")
    return str(max(int(v.version) for v in versions))


def promote_model(config: dict[str, Any], version: str | None = None) -> dict:
    """Promotion gate: ``version`` (default the newest) becomes ``@champion`` only if it beats its own
    baseline on its holdout, then the champion (or, with none, the baseline) by the config's margin."""
    from mlflow import MlflowClient

    from rapport.ml.registry import configure_mlflow, promote_if_better

    configure_mlflow()
    name = config["model_name"]
    promotion = config["promotion"]
    metric = promotion["metric"]
    version = str(version) if version is not None else latest_version(name)
    client = MlflowClient()
    run = client.get_run(client.get_model_version(name, version).run_id)
    baseline_value = run.data.metrics.get(f"{PROMOTION_METRIC_PREFIX}{metric}")
    if baseline_value is None:
        raise ValueError(f"{name} version {version} has no {PROMOTION_METRIC_PREFIX}{metric}: cannot gate it")
    higher_is_better = bool(promotion.get("higher_is_better", True))
    margin = float(promotion.get("margin", 0.0))
    value = run.data.metrics.get(metric)
    beats_baseline = value is not None and (value > baseline_value if higher_is_better else value < baseline_value)
    if not beats_baseline:
        reason = f"{metric}={value} does not beat its own baseline ({baseline_value:.4f}) on the same holdout"
        client.set_model_version_tag(name, version, "promotion_decision", "rejected")
        client.set_model_version_tag(name, version, "promotion_reason", reason)
        return {
            "model_name": name,
            "version": version,
            "metric": metric,
            "value": value,
            "promoted": False,
            "reference": baseline_value,
            "reason": reason,
        }
    return promote_if_better(
        name, version, metric, higher_is_better=higher_is_better, margin=margin, baseline_value=baseline_value
    )


def promote_churn(version: str | None = None) -> dict:
    """Promote a churn version (default the newest) to ``@champion`` if it passes the gate."""
    return promote_model(load_model_config("churn"), version)


def load_champion(model_name: str) -> tuple[Any, str]:
    """The ``@champion`` model of ``model_name`` as an XGBoost classifier, with its version.

    The alias is resolved once and that exact version is loaded, so a promotion during scoring cannot
    mix two versions in one run.
    """
    import mlflow.xgboost

    from rapport.ml.registry import champion_version, configure_mlflow

    configure_mlflow()
    champion = champion_version(model_name)
    if champion is None:
        raise LookupError(f"registered model {model_name!r} has no @champion version: train it, then promote it")
    return mlflow.xgboost.load_model(f"models:/{model_name}/{champion.version}"), str(champion.version)


def write_scores(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, as_of: date, model_name: str) -> int:
    """Replace the (as_of_date, model_name) partition of ``table`` with ``frame``; an empty frame clears it."""
    if frame.empty:
        schema, name = table.split(".")
        if warehouse.table_exists(con, schema, name):
            con.execute(f"delete from {table} where as_of_date = ? and model_name = ?", [as_of, model_name])
        return 0
    return warehouse.replace_partition(con, table, frame, {"as_of_date": as_of, "model_name": model_name})


def require_features_at(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Raise unless dbt built customer features at ``as_of``."""
    count = con.execute(f"select count(*) from {FEATURES_TABLE} where as_of_date = ?", [as_of]).fetchone()[0]
    if not count:
        raise ValueError(f"{FEATURES_TABLE} has no rows at {as_of.isoformat()}: build the features for that date first")


def risk_band(probabilities: np.ndarray, bands: dict[str, float]) -> np.ndarray:
    """``low``/``medium``/``high`` from churn probabilities and the config's thresholds."""
    medium, high = float(bands.get("medium", 0.3)), float(bands.get("high", 0.6))
    return np.select([probabilities >= high, probabilities >= medium], ["high", "medium"], default="low")


def score_churn(con: duckdb.DuckDBPyConnection, as_of: date, run_id: str) -> int:
    """Score active, profiling-consented customers at ``as_of`` with the champion; write ``ml.churn_scores``.

    Churn is defined for customers who bought in the 365 days before the date (as in the labels), so
    only they are scored; lapsed customers are a win-back audience, not a churn risk.
    """
    config = load_model_config("churn")
    model_name = config["model_name"]
    model, version = load_champion(model_name)
    require_features_at(con, as_of)
    frame = load_scoring_frame(con, as_of)
    frame = frame[frame["is_active_365d"].fillna(False).astype(bool)].reset_index(drop=True)
    probabilities = (
        model.predict_proba(feature_matrix(frame, list(model.get_booster().feature_names)))[:, 1]
        if len(frame)
        else np.array([], dtype=float)
    )
    scores = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "as_of_date": pd.Series([as_of] * len(frame), dtype="object"),
            "churn_probability": probabilities.astype(float),
            "risk_band": risk_band(probabilities, config.get("risk_bands", {})),
            "model_name": model_name,
            "model_version": version,
            "scoring_run_id": run_id,
            "scored_at": pd.Timestamp(datetime.now(UTC)).tz_localize(None),
        }
    )
    return write_scores(con, CHURN_SCORES_TABLE, scores, as_of, model_name)
