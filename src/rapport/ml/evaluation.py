"""How models are judged: the shared metric names, calibration, decile capture, and the plots every run logs.

Every model and every baseline is scored on the same holdout with the same functions, so MLflow
shows comparable numbers under the same names (``val_roc_auc``, ``val_pr_auc``, ``val_brier``,
``val_log_loss``, ``val_lift_top_decile``) and the promotion gate can compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CAPTURE_DECILES = (1, 2, 3)


def binary_metrics(y_true, scores, prefix: str = "val_") -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, log loss and top-decile lift of probability ``scores``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6)
    if len(np.unique(y)) < 2:
        raise ValueError("metrics need both classes in the evaluation set")
    top = np.argsort(-p, kind="stable")[: max(1, int(np.ceil(len(p) / 10)))]
    return {
        f"{prefix}roc_auc": float(roc_auc_score(y, p)),
        f"{prefix}pr_auc": float(average_precision_score(y, p)),
        f"{prefix}brier": float(brier_score_loss(y, p)),
        f"{prefix}log_loss": float(log_loss(y, p, labels=[0, 1])),
        f"{prefix}lift_top_decile": float(y[top].mean() / y.mean()),
    }


def reliability_curve(y_true, scores, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability, observed rate and row count per equal-width probability bin (empty bins dropped)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(scores, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "predicted": p, "observed": y})
    return frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), rows=("observed", "size")
    )


def expected_calibration_error(y_true, scores, n_bins: int = 10) -> float:
    """Row-weighted mean gap between predicted probability and observed rate over the reliability bins."""
    curve = reliability_curve(y_true, scores, n_bins)
    weights = curve["rows"] / curve["rows"].sum()
    return float((weights * (curve["predicted"] - curve["observed"]).abs()).sum())


def capture_top_deciles(values, scores, deciles: tuple[int, ...] = CAPTURE_DECILES) -> dict[int, float]:
    """Share of the total of ``values`` (churners, or revenue) held by the top ``k`` deciles ranked by ``scores``."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    total = v.sum()
    if total <= 0:
        raise ValueError("capture needs a positive total in the evaluation set")
    return {k: float(v[order[: int(np.ceil(len(v) * k / 10))]].sum() / total) for k in deciles}


def classification_metrics(y_true, scores, prefix: str = "val_") -> dict[str, float]:
    """The shared binary metrics plus expected calibration error and the churner share caught by the top deciles."""
    captures = capture_top_deciles(y_true, scores)
    return {
        **binary_metrics(y_true, scores, prefix),
        f"{prefix}ece": expected_calibration_error(y_true, scores),
        **{f"{prefix}capture_top_{k}_decile": share for k, share in captures.items()},
    }


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from raw model scores to probabilities, fit on a validation split the model never saw.

    Isotonic regression is stored as its breakpoints (``np.interp`` between them is exactly its
    prediction); Platt scaling as the slope and intercept of a logistic fit on the raw log-odds. Both
    are non-decreasing, so monotone constraints of the underlying model still hold after calibration.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    @classmethod
    def fit(cls, raw_scores, y_true, method: str = "isotonic") -> Calibrator:
        raw = np.asarray(raw_scores, dtype=float)
        y = np.asarray(y_true, dtype=int)
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
            return cls("isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)))
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            platt = LogisticRegression().fit(_logit(raw).reshape(-1, 1), y)
            return cls("platt", slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))
        raise ValueError(f"unknown calibration method {method!r}; choose isotonic or platt")

    def apply(self, raw_scores) -> np.ndarray:
        raw = np.asarray(raw_scores, dtype=float)
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "x": list(self.x),
            "y": list(self.y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(
            data["method"],
            tuple(data.get("x", ())),
            tuple(data.get("y", ())),
            float(data.get("slope", 1.0)),
            float(data.get("intercept", 0.0)),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def figure_axes(title: str, xlabel: str, ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig, ax


def roc_figure(y_true, curves: dict[str, np.ndarray]):
    """ROC curves of several scorers on the same holdout, AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = figure_axes("ROC on the out-of-time holdout", "false positive rate", "true positive rate")
    for label, scores in curves.items():
        fpr, tpr, _ = roc_curve(y_true, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y_true, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pr_figure(y_true, curves: dict[str, np.ndarray]):
    """Precision-recall curves, average precision in the legend, the base rate as a dashed line."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = figure_axes("Precision-recall on the out-of-time holdout", "recall", "precision")
    for label, scores in curves.items():
        precision, recall, _ = precision_recall_curve(y_true, scores)
        ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(y_true, scores):.3f})")
    ax.axhline(float(np.mean(y_true)), linestyle="--", color="grey", linewidth=1)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def calibration_figure(y_true, curves: dict[str, np.ndarray]):
    """Reliability curves: observed rate against mean predicted probability per bin, ECE in the legend."""
    fig, ax = figure_axes("Calibration on the out-of-time holdout", "mean predicted probability", "observed rate")
    for label, scores in curves.items():
        curve = reliability_curve(y_true, scores)
        ece = expected_calibration_error(y_true, scores)
        ax.plot(curve["predicted"], curve["observed"], marker="o", label=f"{label} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def lift_figure(y_true, curves: dict[str, np.ndarray]):
    """Lift per decile (share of positives in the decile over the base rate), deciles ranked by score."""
    fig, ax = figure_axes("Lift by decile on the out-of-time holdout", "decile (1 = highest scores)", "lift")
    y = np.asarray(y_true, dtype=float)
    for label, scores in curves.items():
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
        deciles = np.array_split(y[order], 10)
        ax.plot(range(1, 11), [d.mean() / y.mean() for d in deciles], marker="o", label=label)
    ax.axhline(1.0, linestyle="--", color="grey", linewidth=1)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def importance_figure(importance: dict[str, float], top: int = 20):
    """Horizontal bars of the ``top`` features by importance (XGBoost total gain)."""
    ranked = sorted(importance.items(), key=lambda item: item[1])[-top:]
    fig, ax = figure_axes("Feature importance (total gain)", "total gain", "")
    ax.barh([name for name, _ in ranked], [value for _, value in ranked])
    fig.tight_layout()
    return fig


def log_figures(figures: dict[str, Any]) -> None:
    """Log each figure to the active MLflow run under its file name, then free it."""
    import matplotlib.pyplot as plt
    import mlflow

    for path, fig in figures.items():
        mlflow.log_figure(fig, path)
        plt.close(fig)
