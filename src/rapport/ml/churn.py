"""Churn: who among active customers will place no order in the next ``horizon_days``.

Training is out-of-time: the model is fit on earlier cutoffs, its trees chosen by early stopping and
its probabilities calibrated on a hashed validation share of those training cutoffs, and it is judged
on a later holdout cutoff beside two baselines (recency alone, a logistic regression on every feature)
and beside the current champion, all on that same holdout. It registers a version but never promotes
itself: ``promote_churn`` is the gate (``rapport.ml.registry.promote_model``). ``score_churn`` scores
with whatever version holds ``@champion``, writes the top three reasons per customer from SHAP values,
and scores the latest challenger beside it into the shadow table for a configured number of dates.

The helpers ``fit_xgb_classifier``, ``log_training_runs``, ``promote_model``, ``load_champion``,
``reading_connection``, ``require_both_classes``, ``require_features_at`` and ``write_scores`` are
shared with the next-best-offer model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from rapport import warehouse
from rapport.ml.config import load_model_config
from rapport.ml.evaluation import (
    Calibrator,
    calibration_figure,
    classification_metrics,
    importance_figure,
    lift_figure,
    log_figures,
    pr_figure,
    roc_figure,
)
from rapport.ml.features import (
    FEATURES_TABLE,
    SEGMENT_COLUMNS,
    configured_churn_cutoffs,
    customer_holdout_mask,
    data_version,
    feature_matrix,
    load_scoring_frame,
    load_segments,
    load_training_frame,
)
from rapport.ml.registry import (
    BASELINE_PREFIX,
    CHAMPION_PREFIX,
    COMPARED_CHAMPION_TAG,
    SLICE_AUC_PREFIX,
    SLICE_ROWS_PREFIX,
    latest_version,
    log_datasets,
    promote_model,
)

log = logging.getLogger("rapport.ml.churn")

CHURN_SCORES_TABLE = "ml.churn_scores"
CHURN_SHADOW_TABLE = "ml.churn_scores_shadow"
PROMOTION_METRIC_PREFIX = BASELINE_PREFIX
N_REASONS = 3
CALIBRATION_METADATA_KEY = "calibration"
SHARED_METRICS = ("val_roc_auc", "val_pr_auc", "val_brier", "val_log_loss", "val_lift_top_decile")

__all__ = ["latest_version", "promote_model"]  # re-exported: the shared gate lives in rapport.ml.registry


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


def xgb_params(config: dict[str, Any], y: pd.Series) -> dict[str, Any]:
    """The config's XGBoost params with ``scale_pos_weight`` = negatives / positives, so the rarer class counts."""
    params = dict(config["xgboost"])
    params.setdefault("eval_metric", config.get("early_stopping", {}).get("eval_metric", "logloss"))
    positives = int(y.sum())
    params["scale_pos_weight"] = (len(y) - positives) / positives
    return params


def early_stopped_trees(X_fit, y_fit, X_val, y_val, params: dict[str, Any], rounds: int) -> int:
    """Number of trees at which the validation loss stopped improving (``rounds`` without progress)."""
    from xgboost import XGBClassifier

    probe = XGBClassifier(**params, early_stopping_rounds=rounds)
    probe.fit(X_fit, y_fit, eval_set=[(X_val, y_val)], verbose=False)
    return int(probe.best_iteration) + 1


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
    params = xgb_params(config, y)
    mask = customer_holdout_mask(customer_ids.reset_index(drop=True), early.get("validation_share", 0.2))
    if y[mask].nunique() == 2 and y[~mask].nunique() == 2:
        params["n_estimators"] = early_stopped_trees(
            X[~mask], y[~mask], X[mask], y[mask], params, int(early.get("rounds", 30))
        )
    model = XGBClassifier(**params)
    model.fit(X, y, verbose=False)
    return model, params


@dataclass
class CalibratedClassifier:
    """An XGBoost classifier whose probabilities pass through a ``Calibrator``; raw scores stay reachable.

    It answers ``predict_proba`` and ``get_booster`` like the classifier it wraps, so scoring, the
    behaviour tests and SHAP explanations treat calibrated and uncalibrated versions alike.
    """

    model: Any
    calibrator: Calibrator

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        calibrated = self.calibrator.apply(self.model.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - calibrated, calibrated])

    def get_booster(self):
        return self.model.get_booster()


@dataclass(frozen=True)
class ValidationSplit:
    """Training rows split by hashed customer: ``fit`` grows the trees, ``validation`` stops and calibrates them."""

    X_fit: pd.DataFrame
    y_fit: pd.Series
    X_val: pd.DataFrame
    y_val: pd.Series

    @classmethod
    def of(cls, X: pd.DataFrame, y: pd.Series, customer_ids: pd.Series, share: float) -> ValidationSplit:
        X, y = X.reset_index(drop=True), y.astype(int).reset_index(drop=True)
        mask = customer_holdout_mask(customer_ids.reset_index(drop=True), share)
        split = cls(X[~mask], y[~mask], X[mask], y[mask])
        require_both_classes(split.y_fit, "training fit split")
        require_both_classes(split.y_val, "training validation split")
        return split


def tune_hyperparameters(split: ValidationSplit, config: dict[str, Any], n_trials: int) -> dict[str, Any]:
    """A small Optuna search (TPE, seeded) of XGBoost params, each trial a nested MLflow run of the active run.

    Trials fit on a subsample of the fit split (``tuning.max_rows``) and are judged by ROC AUC on the
    validation split, never on the holdout; the config's params win when no trial is asked for.
    """
    import mlflow
    import optuna
    from sklearn.metrics import roc_auc_score

    base = xgb_params(config, split.y_fit)
    if n_trials <= 0:
        return base
    tuning = config.get("tuning", {})
    max_rows = int(tuning.get("max_rows", 20000))
    X_fit, y_fit = split.X_fit, split.y_fit
    if len(X_fit) > max_rows:
        X_fit = X_fit.sample(max_rows, random_state=int(base.get("random_state", 42)))
        y_fit = y_fit.loc[X_fit.index]
    rounds = int(config.get("early_stopping", {}).get("rounds", 30))

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 10.0, log=True),
        }
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            params["n_estimators"] = early_stopped_trees(X_fit, y_fit, split.X_val, split.y_val, params, rounds)
            from xgboost import XGBClassifier

            model = XGBClassifier(**params).fit(X_fit, y_fit, verbose=False)
            auc = float(roc_auc_score(split.y_val, model.predict_proba(split.X_val)[:, 1]))
            mlflow.set_tag("optuna_trial", str(trial.number))
            mlflow.log_params(params)
            mlflow.log_metric("trial_val_roc_auc", auc)
        trial.set_user_attr("n_estimators", params["n_estimators"])
        return auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=int(base.get("random_state", 42)))
    )
    study.optimize(objective, n_trials=n_trials)
    mlflow.log_metric("tuning_best_val_roc_auc", float(study.best_value))
    return {**base, **study.best_params}


def fit_calibrated_classifier(split: ValidationSplit, params: dict[str, Any], config: dict[str, Any]):
    """Fit on the fit split with early stopping on the validation split, then calibrate on that validation split.

    The model is not refit on the validation rows: the calibrator must see scores of rows the trees
    never saw, or it would learn the training fit's over-confidence instead of the model's.
    """
    from xgboost import XGBClassifier

    rounds = int(config.get("early_stopping", {}).get("rounds", 30))
    params = {
        **params,
        "n_estimators": early_stopped_trees(split.X_fit, split.y_fit, split.X_val, split.y_val, params, rounds),
    }
    model = XGBClassifier(**params).fit(split.X_fit, split.y_fit, verbose=False)
    method = config.get("calibration", {}).get("method", "isotonic")
    calibrator = Calibrator.fit(model.predict_proba(split.X_val)[:, 1], split.y_val, method)
    return CalibratedClassifier(model, calibrator), params


def recency_baseline(train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    """Baseline churn probability from ``recency_days`` alone (one-feature logistic fit on the training rows)."""
    return logistic_baseline(train, holdout, ["recency_days"])


def logistic_baseline(train: pd.DataFrame, holdout: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Churn probability from a standardised logistic regression on ``features`` (missing values: training median)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(feature_matrix(train, features), train["is_churned"].astype(int))
    return pipeline.predict_proba(feature_matrix(holdout, features))[:, 1]


def slice_metrics(y: np.ndarray, scores: np.ndarray, segments: pd.DataFrame) -> dict[str, float]:
    """ROC AUC and row count per value of each segment column (slices holding one class are skipped)."""
    from sklearn.metrics import roc_auc_score

    metrics: dict[str, float] = {}
    for column in SEGMENT_COLUMNS:
        for value, index in segments.groupby(column).indices.items():
            if len(np.unique(y[index])) < 2:
                continue
            label = f"{column}.{value}"
            metrics[f"{SLICE_AUC_PREFIX}{label}"] = float(roc_auc_score(y[index], scores[index]))
            metrics[f"{SLICE_ROWS_PREFIX}{label}"] = float(len(index))
    return metrics


def evaluate(y: np.ndarray, scores: np.ndarray, segments: pd.DataFrame) -> dict[str, float]:
    """Every holdout metric of one scorer: shared names, calibration, decile capture, per-slice AUC."""
    return {**classification_metrics(y, scores), **slice_metrics(y, scores, segments)}


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged XGBoost model, given explicitly (inferring them costs seconds)."""
    import mlflow
    import sklearn
    import xgboost

    return [
        f"mlflow=={mlflow.__version__}",
        f"xgboost=={xgboost.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]


def log_xgb_model(model: Any, X_example: pd.DataFrame, model_name: str, metadata: dict | None = None):
    """Log and register ``model`` (an XGBoost classifier, or one wrapped with its calibrator) in the active run."""
    import mlflow.xgboost
    from mlflow.models import infer_signature

    calibrated = isinstance(model, CalibratedClassifier)
    example = X_example.head(5)
    return mlflow.xgboost.log_model(
        model.model if calibrated else model,
        name="model",
        signature=infer_signature(example, model.predict_proba(example)[:, 1]),
        input_example=example,
        pip_requirements=pip_requirements(),
        metadata={**(metadata or {}), **({CALIBRATION_METADATA_KEY: model.calibrator.to_dict()} if calibrated else {})},
        registered_model_name=model_name,
    )


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
    import mlflow

    from rapport.ml.registry import configure_mlflow, get_or_create_experiment

    metrics = classification_metrics(y_holdout, scores)
    baseline_metrics = classification_metrics(y_holdout, baseline_scores)
    configure_mlflow()
    experiment_id = get_or_create_experiment(config["experiment"])
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"baseline-{baseline_name}") as baseline_run:
        mlflow.set_tags({**tags, "baseline": baseline_name})
        mlflow.log_metrics(baseline_metrics)
    with mlflow.start_run(experiment_id=experiment_id, run_name="xgboost") as run:
        mlflow.set_tags({**tags, "baseline_run_id": baseline_run.info.run_id})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in baseline_metrics.items()})
        log_figures({"roc_curve.png": roc_figure(y_holdout, {"xgboost": scores, baseline_name: baseline_scores})})
        info = log_xgb_model(model, X_train, config["model_name"])
    return {
        "run_id": run.info.run_id,
        "baseline_run_id": baseline_run.info.run_id,
        "model_name": config["model_name"],
        "model_version": str(info.registered_model_version),
        **metrics,
        **{f"{BASELINE_PREFIX}{k}": v for k, v in baseline_metrics.items()},
    }


def tuning_trials(config: dict[str, Any]) -> int:
    """Optuna trials per training: ``RAPPORT_TUNING_TRIALS`` if set, else ``tuning.n_trials`` in the config."""
    from rapport.settings import get_settings

    override = get_settings().tuning_trials
    return override if override is not None else int(config.get("tuning", {}).get("n_trials", 0))


def champion_on_holdout(model_name: str, holdout: pd.DataFrame) -> tuple[str, np.ndarray] | None:
    """The current champion's version and its probabilities on ``holdout``, or None when there is no champion."""
    try:
        champion, version = load_champion(model_name)
    except LookupError:
        return None
    features = list(champion.get_booster().feature_names)
    return version, champion.predict_proba(feature_matrix(holdout, features))[:, 1]


def train_churn(as_of: date, con: duckdb.DuckDBPyConnection | None = None, *, config: dict | None = None) -> dict:
    """Train the churn model as of ``as_of`` out-of-time, beside two baselines and the champion; register, never promote.

    One parent MLflow run per call holds the Optuna trials, one run per baseline (tag ``baseline``) and
    the model run, each with the training and holdout sets as MLflow datasets.
    """
    import mlflow

    from rapport.ml.registry import training_parent_run

    config = config or load_model_config("churn")
    cutoffs = configured_churn_cutoffs(as_of, config)
    with reading_connection(con) as reader:
        train = load_training_frame(reader, list(cutoffs.train))
        holdout = load_training_frame(reader, [cutoffs.holdout])
        segments = (
            holdout[["customer_id", "as_of_date"]]
            .merge(load_segments(reader, [cutoffs.holdout]), on=["customer_id", "as_of_date"], how="left")
            .fillna("unknown")
        )
    require_both_classes(train["is_churned"], f"training (cutoffs {[d.isoformat() for d in cutoffs.train]})")
    require_both_classes(holdout["is_churned"], f"holdout (cutoff {cutoffs.holdout.isoformat()})")
    features = list(config["features"])
    X_train, X_holdout = feature_matrix(train, features), feature_matrix(holdout, features)
    y_holdout = holdout["is_churned"].astype(int).to_numpy()
    share = float(config.get("early_stopping", {}).get("validation_share", 0.2))
    split = ValidationSplit.of(X_train, train["is_churned"], train["customer_id"], share)
    tags = {
        "model": "churn",
        "as_of_date": as_of.isoformat(),
        "data_version": data_version(pd.concat([train, holdout], ignore_index=True)),
        "cutoffs": ",".join(d.isoformat() for d in cutoffs.train),
        "holdout_cutoff": cutoffs.holdout.isoformat(),
    }
    frames = {"training": train, "holdout": holdout}
    with training_parent_run(config, "churn", as_of, frames, "is_churned", tags) as (parent, datasets):
        params = tune_hyperparameters(split, config, tuning_trials(config))
        model, params = fit_calibrated_classifier(split, params, config)
        scores = model.predict_proba(X_holdout)[:, 1]
        raw_scores = model.model.predict_proba(X_holdout)[:, 1]
        baselines = {
            "recency": recency_baseline(train, holdout),
            "logistic": logistic_baseline(train, holdout, features),
        }
        baseline_runs = {
            name: _log_baseline_run(name, classification_metrics(y_holdout, s), tags, datasets)
            for name, s in baselines.items()
        }
        best_baseline = config["promotion"].get("baseline") or max(
            baselines, key=lambda name: baseline_runs[name][1][config["promotion"]["metric"]]
        )
        champion = champion_on_holdout(config["model_name"], holdout)
        metrics = evaluate(y_holdout, scores, segments)
        with mlflow.start_run(run_name="xgboost", nested=True) as run:
            mlflow.set_tags(
                {**tags, "baseline_run_id": baseline_runs[best_baseline][0], "baseline_name": best_baseline}
            )
            log_datasets(datasets)
            mlflow.log_params(
                {
                    **params,
                    "calibration": model.calibrator.method,
                    "horizon_days": cutoffs.horizon_days,
                    "n_features": len(features),
                    "n_train_rows": len(train),
                    "n_fit_rows": len(split.X_fit),
                    "n_validation_rows": len(split.X_val),
                    "n_holdout_rows": len(holdout),
                    "train_churn_rate": round(float(train["is_churned"].mean()), 4),
                }
            )
            mlflow.log_metrics(metrics)
            mlflow.log_metrics(
                {f"uncalibrated_{k}": v for k, v in classification_metrics(y_holdout, raw_scores).items()}
            )
            mlflow.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in baseline_runs[best_baseline][1].items()})
            if champion is not None:
                mlflow.set_tag(COMPARED_CHAMPION_TAG, champion[0])
                mlflow.log_metrics(
                    {f"{CHAMPION_PREFIX}{k}": v for k, v in evaluate(y_holdout, champion[1], segments).items()}
                )
            curves = {"xgboost": scores, **baselines}
            log_figures(
                {
                    "roc_curve.png": roc_figure(y_holdout, curves),
                    "pr_curve.png": pr_figure(y_holdout, curves),
                    "calibration_curve.png": calibration_figure(
                        y_holdout, {"xgboost (calibrated)": scores, "xgboost (raw)": raw_scores, **baselines}
                    ),
                    "lift_by_decile.png": lift_figure(y_holdout, curves),
                    "feature_importance.png": importance_figure(
                        model.get_booster().get_score(importance_type="total_gain")
                    ),
                }
            )
            info = log_xgb_model(
                model, X_train, config["model_name"], {"features": features, "as_of_date": as_of.isoformat()}
            )
    return {
        "run_id": run.info.run_id,
        "parent_run_id": parent.info.run_id,
        "baseline_run_id": baseline_runs[best_baseline][0],
        "baseline_run_ids": {name: run_id for name, (run_id, _) in baseline_runs.items()},
        "model_name": config["model_name"],
        "model_version": str(info.registered_model_version),
        "compared_champion_version": champion[0] if champion else None,
        **{k: v for k, v in metrics.items() if k.startswith("val_")},
        **{f"{BASELINE_PREFIX}{k}": v for k, v in baseline_runs[best_baseline][1].items()},
        **{f"{name}_{k}": v for name, (_, m) in baseline_runs.items() for k, v in m.items() if k in SHARED_METRICS},
        "n_train_rows": len(train),
        "n_holdout_rows": len(holdout),
    }


def _log_baseline_run(name: str, metrics: dict[str, float], tags: dict[str, str], datasets: dict) -> tuple[str, dict]:
    """One nested run per baseline, tagged ``baseline=<name>``, with the same metric names as the model."""
    import mlflow

    with mlflow.start_run(run_name=f"baseline-{name}", nested=True) as run:
        mlflow.set_tags({**tags, "baseline": name})
        log_datasets(datasets)
        mlflow.log_metrics(metrics)
    return run.info.run_id, metrics


def promote_churn(version: str | None = None) -> dict:
    """Promote a churn version (default the newest) to ``@champion`` if it passes the gate."""
    return promote_model(load_model_config("churn"), version)


def load_version(model_name: str, version: str) -> Any:
    """Version ``version`` of ``model_name``: the XGBoost classifier, wrapped with its calibrator when it has one."""
    import mlflow.xgboost
    from mlflow.models import get_model_info

    uri = f"models:/{model_name}/{version}"
    model = mlflow.xgboost.load_model(uri)
    calibration = (get_model_info(uri).metadata or {}).get(CALIBRATION_METADATA_KEY)
    return CalibratedClassifier(model, Calibrator.from_dict(calibration)) if calibration else model


def load_champion(model_name: str) -> tuple[Any, str]:
    """The ``@champion`` model of ``model_name`` (calibrated where it was trained so), with its version.

    The alias is resolved once and that exact version is loaded, so a promotion during scoring cannot
    mix two versions in one run.
    """
    from rapport.ml.registry import champion_version, configure_mlflow

    configure_mlflow()
    champion = champion_version(model_name)
    if champion is None:
        raise LookupError(f"registered model {model_name!r} has no @champion version: train it, then promote it")
    return load_version(model_name, str(champion.version)), str(champion.version)


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


def reason_text(feature: str, value: float, templates: dict[str, str]) -> str:
    """One driver in plain words from the config's template for ``feature`` (``{value}`` is the customer's value)."""
    if pd.isna(value):
        return f"{feature.replace('_', ' ')} unknown"
    template = templates.get(feature)
    return template.format(value=value) if template else f"{feature.replace('_', ' ')} {value:g}"


def top_reasons(model: Any, X: pd.DataFrame, templates: dict[str, str], n: int = N_REASONS) -> pd.DataFrame:
    """The ``n`` features pushing each customer's churn risk up the most, from XGBoost SHAP values, in words.

    ``pred_contribs`` gives exact TreeSHAP contributions to the raw log-odds (calibration is monotone, so
    the ranking holds for the probability too); only features that raise the risk count as reasons, so a
    customer with fewer than ``n`` of them gets nulls.
    """
    from xgboost import DMatrix

    columns = [f"reason_{i + 1}" for i in range(n)]
    if X.empty:
        return pd.DataFrame(columns=columns, dtype="object")
    contributions = model.get_booster().predict(DMatrix(X), pred_contribs=True)[:, :-1]
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :n]
    names, values = list(X.columns), X.to_numpy()
    rows = [
        [reason_text(names[j], values[i, j], templates) if contributions[i, j] > 0 else None for j in order[i]]
        for i in range(len(X))
    ]
    return pd.DataFrame(rows, columns=columns, dtype="object")


def _run_columns(as_of: date, model_name: str, version: str, run_id: str, n: int) -> dict[str, Any]:
    return {
        "as_of_date": pd.Series([as_of] * n, dtype="object"),
        "model_name": model_name,
        "model_version": version,
        "scoring_run_id": run_id,
        "scored_at": pd.Timestamp(datetime.now(UTC)).tz_localize(None),
    }


def load_churn_scoring_frame(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Who gets a churn score at ``as_of``: profiling-consented customers active in the 365 days before it."""
    require_features_at(con, as_of)
    frame = load_scoring_frame(con, as_of)
    return frame[frame["is_active_365d"].fillna(False).astype(bool)].reset_index(drop=True)


def score_churn(con: duckdb.DuckDBPyConnection, as_of: date, run_id: str) -> int:
    """Score active, profiling-consented customers at ``as_of`` with the champion; write ``ml.churn_scores``.

    Churn is defined for customers who bought in the 365 days before the date (as in the labels), so
    only they are scored; lapsed customers are a win-back audience, not a churn risk. The latest
    challenger, if any, is scored on the same rows into ``ml.churn_scores_shadow``.
    """
    config = load_model_config("churn")
    model_name = config["model_name"]
    model, version = load_champion(model_name)
    frame = load_churn_scoring_frame(con, as_of)
    X = feature_matrix(frame, list(model.get_booster().feature_names))
    probabilities = model.predict_proba(X)[:, 1] if len(frame) else np.array([], dtype=float)
    reasons = top_reasons(model, X, config.get("reasons", {}))
    scores = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "churn_probability": probabilities.astype(float),
            "risk_band": risk_band(probabilities, config.get("risk_bands", {})),
            **{column: reasons[column] for column in reasons.columns},
            **_run_columns(as_of, model_name, version, run_id, len(frame)),
        }
    )
    written = write_scores(con, CHURN_SCORES_TABLE, scores, as_of, model_name)
    shadowed = score_shadow(con, frame, scores, as_of, run_id, config)
    log.info("churn: %d scores, %d shadow rows at %s", written, shadowed, as_of)
    return written


def shadow_challenger(model_name: str, champion: str) -> str | None:
    """The newest version registered after the champion: the challenger scored in its shadow, if any."""
    from mlflow import MlflowClient

    versions = [int(v.version) for v in MlflowClient().search_model_versions(f"name = '{model_name}'")]
    newer = [v for v in versions if v > int(champion)]
    return str(max(newer)) if newer else None


def shadowed_dates(con: duckdb.DuckDBPyConnection, model_name: str, challenger: str, as_of: date) -> int:
    """How many other as-of dates the challenger was already scored in the champion's shadow."""
    return con.execute(
        f"select count(distinct as_of_date) from {CHURN_SHADOW_TABLE} "
        "where model_name = ? and model_version = ? and as_of_date <> ?",
        [model_name, challenger, as_of],
    ).fetchall()[0][0]


def score_shadow(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    champion_scores: pd.DataFrame,
    as_of: date,
    run_id: str,
    config: dict,
) -> int:
    """Score the latest challenger on the champion's batch into ``ml.churn_scores_shadow``, side by side.

    A challenger is shadowed on at most ``shadow.runs`` as-of dates, so a rejected version stops
    costing scoring time; rescoring a date it was shadowed on replaces that partition.
    """
    model_name = config["model_name"]
    champion = str(champion_scores["model_version"].iloc[0]) if len(champion_scores) else None
    limit = int(config.get("shadow", {}).get("runs", 0))
    challenger = shadow_challenger(model_name, champion) if champion and limit > 0 else None
    if challenger is None or shadowed_dates(con, model_name, challenger, as_of) >= limit:
        return 0
    model = load_version(model_name, challenger)
    X = feature_matrix(frame, list(model.get_booster().feature_names))
    shadow = pd.DataFrame(
        {
            "customer_id": champion_scores["customer_id"],
            "champion_version": champion,
            "champion_probability": champion_scores["churn_probability"],
            "challenger_probability": model.predict_proba(X)[:, 1].astype(float),
            **_run_columns(as_of, model_name, challenger, run_id, len(frame)),
        }
    )
    return write_scores(con, CHURN_SHADOW_TABLE, shadow, as_of, model_name)
