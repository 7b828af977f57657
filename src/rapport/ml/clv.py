"""Customer lifetime value: expected orders and spend of each customer in the year after a date.

Two models compete on an out-of-time holdout against the average-order-value x frequency baseline:

- **BG/NBD + Gamma-Gamma** (Fader, Hardie & Lee 2005), fit here by maximum likelihood with scipy (the
  ``lifetimes`` package is archived). Per customer, from orders before the cutoff: ``x`` repeat
  purchase days, ``t_x`` weeks from the first to the last purchase, ``T`` weeks from the first purchase
  to the cutoff, ``m`` the average value of the repeat purchases.

  BG/NBD: while alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha) and after each purchase
  drops out with probability p ~ Beta(a, b). The likelihood of (x, t_x, T) is::

      L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x)/B(a, b) * (alpha+T)^-(r+x)
                                            + 1{x>0} B(a+1, b+x-1)/B(a, b) * (alpha+t_x)^-(r+x) ]

  and the expected purchases in the next t weeks are (eq. 10 of the paper)::

      E[Y(t)] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
                / [1 + 1{x>0} a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)]

  Gamma-Gamma: each purchase value ~ Gamma(p, nu) with nu ~ Gamma(q, gamma), independent of the
  transaction process; fit on customers with x > 0 by the likelihood of their mean m over x purchases::

      L = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q m^(px-1) x^(px) / (gamma + m x)^(px+q)

  with E[value | m, x] = p (gamma + m x) / (p x + q - 1). CLV = E[Y(t)] * E[value] (undiscounted).

- **XGBoost** (Tweedie) regression of the spend in the ``horizon_days`` after a cutoff, from the mart's
  customer features and the same RFM summary, trained on earlier cutoffs whose label windows end
  before the holdout's begins.

The better one on holdout MAE is registered as ``rapport-clv`` (a pyfunc holding both, refit on all
data up to the as-of date) and ``score_clv`` writes its 365-day predictions to ``ml.clv_scores``;
expected orders always come from BG/NBD, the only one of the two that models the transaction count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from rapport.ml.config import load_model_config

ORDERS_TABLE = "staging.stg_shop__orders"
CLV_SCORES_TABLE = "ml.clv_scores"
SUMMARY_COLUMNS = ("repeat_purchases", "recency_weeks", "age_weeks", "avg_repeat_value")
BGNBD = "bgnbd_gamma_gamma"
XGBOOST = "xgboost"
DAYS_PER_WEEK = 7.0


def bgnbd_log_likelihood(params, x, t_x, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood of (x, t_x, T) under ``params`` = (r, alpha, a, b)."""
    from scipy.special import betaln, gammaln

    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    still_alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = betaln(a + 1, b + x[repeat] - 1) - betaln(a, b) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(still_alive, dropped)


def gamma_gamma_log_likelihood(params, x, m) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean value ``m`` over ``x`` purchases, ``params`` = (p, q, gamma)."""
    from scipy.special import gammaln

    p, q, gamma = params
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + m * x)
    )


def _maximise(log_likelihood, n_params: int, *data) -> tuple[float, ...]:
    """Parameters (all positive, optimised on the log scale) maximising the summed log-likelihood."""
    from scipy.optimize import minimize

    def loss(log_params):
        value = -np.sum(log_likelihood(np.exp(log_params), *data))
        return value if np.isfinite(value) else 1e12

    result = minimize(loss, np.zeros(n_params), method="L-BFGS-B")
    if not np.isfinite(result.fun) or result.fun >= 1e12:
        raise RuntimeError(f"likelihood maximisation failed: {result.message}")
    return tuple(float(v) for v in np.exp(result.x))


def fit_bgnbd(x, t_x, T) -> tuple[float, float, float, float]:
    """Maximum-likelihood (r, alpha, a, b) of the BG/NBD model."""
    return _maximise(bgnbd_log_likelihood, 4, x, t_x, T)


def fit_gamma_gamma(x, m) -> tuple[float, float, float]:
    """Maximum-likelihood (p, q, gamma) of the Gamma-Gamma model, on customers with repeat purchases."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    keep = (x > 0) & (m > 0)
    if keep.sum() < 10:
        raise ValueError(f"Gamma-Gamma needs customers with repeat purchases; found {int(keep.sum())}")
    return _maximise(gamma_gamma_log_likelihood, 3, x[keep], m[keep])


def bgnbd_expected_purchases(params, t: float, x, t_x, T) -> np.ndarray:
    """Expected purchases in the next ``t`` weeks of customers with history (x, t_x, T)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    alive = 1 + (x > 0) * (a / np.maximum(b + x - 1, 1e-12)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return head * tail / alive


def gamma_gamma_expected_value(params, x, m) -> np.ndarray:
    """Expected value of a customer's future purchases given ``x`` purchases of mean ``m`` (the prior mean when x = 0)."""
    p, q, gamma = params
    x, m = np.asarray(x, dtype=float), np.nan_to_num(np.asarray(m, dtype=float))
    return p * (gamma + m * x) / (p * x + q - 1)


def order_summary(con: duckdb.DuckDBPyConnection, cutoff: date, horizon_days: int | None = None) -> pd.DataFrame:
    """The RFM summary per customer from completed orders strictly before ``cutoff`` (one purchase per day).

    With ``horizon_days``, adds ``future_spend`` and ``future_orders``: completed orders in
    [cutoff, cutoff + horizon_days), the label window.
    """
    end = cutoff + timedelta(days=horizon_days or 0)
    return con.execute(
        f"""
        with days as (
            select customer_id, cast(ordered_at as date) as order_date, sum(order_total) as spend
            from {ORDERS_TABLE}
            where status = 'completed' and ordered_at < cast(? as timestamp)
            group by all
        ),
        history as (
            select
                customer_id,
                count(*) - 1 as repeat_purchases,
                date_diff('day', min(order_date), max(order_date)) / {DAYS_PER_WEEK} as recency_weeks,
                date_diff('day', min(order_date), cast(? as date)) / {DAYS_PER_WEEK} as age_weeks,
                (sum(spend) - arg_min(spend, order_date)) / nullif(count(*) - 1, 0) as avg_repeat_value,
            from days
            group by customer_id
        ),
        future as (
            select customer_id, sum(order_total) as future_spend, count(distinct cast(ordered_at as date)) as future_orders
            from {ORDERS_TABLE}
            where status = 'completed' and ordered_at >= cast(? as timestamp) and ordered_at < cast(? as timestamp)
            group by customer_id
        )
        select history.*, coalesce(future.future_spend, 0) as future_spend, coalesce(future.future_orders, 0) as future_orders
        from history
        left join future using (customer_id)
        order by customer_id
        """,
        [cutoff, cutoff, cutoff, end],
    ).df()


def load_clv_frame(con: duckdb.DuckDBPyConnection, cutoff: date, features: list[str], horizon_days: int | None = None):
    """Mart features joined with the order summary at ``cutoff``: profiling-consented customers with an order before it."""
    from rapport.ml.features import load_scoring_frame

    summary = order_summary(con, cutoff, horizon_days)
    mart = load_scoring_frame(con, cutoff)
    if mart.empty:
        raise ValueError(
            f"marts.ml_customer_features has no rows at {cutoff.isoformat()}: build the features for that date first"
        )
    frame = mart[["customer_id", "as_of_date", *features]].merge(summary, on="customer_id", how="inner")
    return frame.reset_index(drop=True)


def clv_cutoffs(as_of: date, config: dict[str, Any]) -> tuple[list[date], date]:
    """(training cutoffs, holdout cutoff): the holdout's label window ends at ``as_of``, training ones before it begins."""
    horizon = int(config["horizon_days"])
    holdout = as_of - timedelta(days=horizon)
    cutoffs = config.get("cutoffs", {})
    step = int(cutoffs.get("step_days", 30))
    train = sorted(holdout - timedelta(days=horizon + k * step) for k in range(int(cutoffs.get("n_train", 2))))
    return train, holdout


def configured_clv_cutoffs(as_of: date) -> list[date]:
    """Every date CLV reads mart features at: its training and holdout cutoffs (dbt builds them)."""
    train, holdout = clv_cutoffs(as_of, load_model_config("clv"))
    return [*train, holdout]


@dataclass
class ClvModel:
    """BG/NBD + Gamma-Gamma parameters and the XGBoost spend regression, and which one answers ``predict``."""

    bgnbd: tuple[float, float, float, float]
    gamma_gamma: tuple[float, float, float]
    xgb: Any
    features: list[str]
    horizon_days: int
    method: str = BGNBD
    metadata: dict[str, Any] = field(default_factory=dict)

    def expected_orders(self, frame: pd.DataFrame, days: int) -> np.ndarray:
        return bgnbd_expected_purchases(
            self.bgnbd, days / DAYS_PER_WEEK, frame["repeat_purchases"], frame["recency_weeks"], frame["age_weeks"]
        )

    def bgnbd_value(self, frame: pd.DataFrame, days: int) -> np.ndarray:
        value = gamma_gamma_expected_value(self.gamma_gamma, frame["repeat_purchases"], frame["avg_repeat_value"])
        return self.expected_orders(frame, days) * value

    def xgb_value(self, frame: pd.DataFrame, days: int) -> np.ndarray:
        """The regression predicts spend over ``horizon_days``; other spans scale it at a constant spend rate."""
        return self.xgb.predict(xgb_matrix(frame, self.features)) * days / self.horizon_days

    def value(self, frame: pd.DataFrame, days: int, method: str | None = None) -> np.ndarray:
        method = method or self.method
        return np.clip(self.bgnbd_value(frame, days) if method == BGNBD else self.xgb_value(frame, days), 0, None)


def xgb_matrix(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Mart features then the RFM summary, as float64 (NaN stays missing)."""
    return frame[[*features, *SUMMARY_COLUMNS]].astype("float64")


def fit_xgb_regressor(frame: pd.DataFrame, features: list[str], config: dict[str, Any]):
    from xgboost import XGBRegressor

    return XGBRegressor(**config["xgboost"]).fit(xgb_matrix(frame, features), frame["future_spend"], verbose=False)


def fit_clv_model(history: pd.DataFrame, labelled: pd.DataFrame, config: dict[str, Any]) -> ClvModel:
    """Fit BG/NBD + Gamma-Gamma on ``history`` (summaries at one date) and XGBoost on ``labelled`` (with future spend)."""
    features = list(config["features"])
    return ClvModel(
        bgnbd=fit_bgnbd(history["repeat_purchases"], history["recency_weeks"], history["age_weeks"]),
        gamma_gamma=fit_gamma_gamma(history["repeat_purchases"], history["avg_repeat_value"]),
        xgb=fit_xgb_regressor(labelled, features, config),
        features=features,
        horizon_days=int(config["horizon_days"]),
    )


def aov_frequency_baseline(frame: pd.DataFrame, days: int) -> np.ndarray:
    """Average order value x orders in the last 365 days, scaled to ``days``: spend continues at last year's pace."""
    return (frame["avg_order_value_365d"].fillna(0) * frame["frequency_365d"].fillna(0) * days / 365).to_numpy(float)


def regression_metrics(actual, predicted, prefix: str = "val_") -> dict[str, float]:
    """MAE, RMSE and the share of actual holdout revenue held by the predicted top decile (and top 2, 3)."""
    from rapport.ml.evaluation import capture_top_deciles

    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return {
        f"{prefix}mae": float(np.mean(np.abs(actual - predicted))),
        f"{prefix}rmse": float(np.sqrt(np.mean((actual - predicted) ** 2))),
        **{f"{prefix}revenue_capture_top_{k}_decile": v for k, v in capture_top_deciles(actual, predicted).items()},
    }


def _pyfunc_class():
    import mlflow.pyfunc

    class ClvPyfunc(mlflow.pyfunc.PythonModel):
        """``predict`` on a frame of mart features + RFM summary: 365-day value and orders, from the winner."""

        def __init__(self, model: ClvModel, projection_days: int):
            self.model, self.projection_days = model, projection_days

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "predicted_clv": self.model.value(model_input, self.projection_days),
                    "expected_orders": self.model.expected_orders(model_input, self.projection_days),
                }
            )

    return ClvPyfunc


def train_clv(as_of: date, con: duckdb.DuckDBPyConnection | None = None, *, config: dict | None = None) -> dict:
    """Fit both CLV models on data before the holdout cutoff, judge them and the baseline on the holdout window,
    then refit the winner's pair on everything up to ``as_of`` and register it (never promote)."""
    import mlflow
    import mlflow.pyfunc

    from rapport.ml.churn import pip_requirements, reading_connection
    from rapport.ml.evaluation import log_figures
    from rapport.ml.features import data_version
    from rapport.ml.registry import BASELINE_PREFIX, log_datasets, training_parent_run

    config = config or load_model_config("clv")
    features, horizon = list(config["features"]), int(config["horizon_days"])
    train_cutoffs, holdout_cutoff = clv_cutoffs(as_of, config)
    with reading_connection(con) as reader:
        train = pd.concat([load_clv_frame(reader, c, features, horizon) for c in train_cutoffs], ignore_index=True)
        holdout = load_clv_frame(reader, holdout_cutoff, features, horizon)
        latest = load_clv_frame(reader, as_of, features)
    evaluated = fit_clv_model(holdout, train, config)
    actual = holdout["future_spend"].to_numpy(float)
    predictions = {
        BGNBD: evaluated.value(holdout, horizon, BGNBD),
        XGBOOST: evaluated.value(holdout, horizon, XGBOOST),
    }
    baseline = aov_frequency_baseline(holdout, horizon)
    metrics = {name: regression_metrics(actual, p) for name, p in predictions.items()}
    baseline_metrics = regression_metrics(actual, baseline)
    winner = min(metrics, key=lambda name: metrics[name]["val_mae"])
    final = fit_clv_model(latest, pd.concat([train, holdout], ignore_index=True), config)
    final.method = winner
    tags = {
        "model": "clv",
        "as_of_date": as_of.isoformat(),
        "data_version": data_version(pd.concat([train, holdout], ignore_index=True)),
        "cutoffs": ",".join(d.isoformat() for d in train_cutoffs),
        "holdout_cutoff": holdout_cutoff.isoformat(),
        "method": winner,
    }
    frames = {"training": train, "holdout": holdout}
    with training_parent_run(config, "clv", as_of, frames, "future_spend", tags) as (parent, datasets):
        with mlflow.start_run(run_name="baseline-aov_x_frequency", nested=True) as baseline_run:
            mlflow.set_tags({**tags, "baseline": "aov_x_frequency"})
            mlflow.log_metrics(baseline_metrics)
        with mlflow.start_run(run_name=f"clv-{winner}", nested=True) as run:
            mlflow.set_tags({**tags, "baseline_run_id": baseline_run.info.run_id})
            log_datasets(datasets)
            mlflow.log_params(
                {
                    **{f"xgboost_{k}": v for k, v in config["xgboost"].items()},
                    **dict(zip(("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b"), final.bgnbd, strict=True)),
                    **dict(zip(("gg_p", "gg_q", "gg_gamma"), final.gamma_gamma, strict=True)),
                    "horizon_days": horizon,
                    "projection_days": int(config.get("projection_days", 365)),
                    "n_train_rows": len(train),
                    "n_holdout_rows": len(holdout),
                }
            )
            mlflow.log_metrics(metrics[winner])
            mlflow.log_metrics({f"{name}_{k}": v for name, m in metrics.items() for k, v in m.items()})
            mlflow.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in baseline_metrics.items()})
            log_figures(
                {
                    "holdout_spend_by_decile.png": spend_decile_figure(
                        actual, {**predictions, "aov_x_frequency": baseline}
                    )
                }
            )
            example = latest.head(5)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=_pyfunc_class()(final, int(config.get("projection_days", 365))),
                input_example=example,
                pip_requirements=pip_requirements() + ["scipy"],
                registered_model_name=config["model_name"],
            )
    return {
        "run_id": run.info.run_id,
        "parent_run_id": parent.info.run_id,
        "baseline_run_id": baseline_run.info.run_id,
        "model_name": config["model_name"],
        "model_version": str(info.registered_model_version),
        "method": winner,
        **{f"{name}_{k}": v for name, m in metrics.items() for k, v in m.items()},
        **{f"{BASELINE_PREFIX}{k}": v for k, v in baseline_metrics.items()},
        "n_train_rows": len(train),
        "n_holdout_rows": len(holdout),
    }


def spend_decile_figure(actual: np.ndarray, curves: dict[str, np.ndarray]):
    """Mean actual holdout spend per predicted decile of each model: a good ranking falls steeply."""
    from rapport.ml.evaluation import figure_axes

    fig, ax = figure_axes("Holdout spend by predicted decile", "predicted decile (1 = highest)", "mean actual spend")
    for label, predicted in curves.items():
        order = np.argsort(-np.asarray(predicted), kind="stable")
        ax.plot(range(1, 11), [chunk.mean() for chunk in np.array_split(actual[order], 10)], marker="o", label=label)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def promote_clv(version: str | None = None) -> dict:
    """Promote a CLV version (default the newest) to ``@champion`` if it beats its baseline and the champion on MAE."""
    from rapport.ml.registry import promote_model

    return promote_model(load_model_config("clv"), version)


def score_clv(con: duckdb.DuckDBPyConnection, as_of: date, run_id: str) -> int:
    """Write 365-day value and orders of every profiling-consented customer with an order before ``as_of``."""
    import mlflow.pyfunc

    from rapport.ml.churn import _run_columns, write_scores
    from rapport.ml.registry import champion_version, configure_mlflow

    config = load_model_config("clv")
    name = config["model_name"]
    configure_mlflow()
    champion = champion_version(name)
    if champion is None:
        raise LookupError(f"registered model {name!r} has no @champion version: train it, then promote it")
    version = str(champion.version)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    frame = load_clv_frame(con, as_of, pyfunc.model.features)
    predictions = pyfunc.predict(None, frame)
    scores = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "predicted_clv_365d": predictions["predicted_clv"].astype(float),
            "expected_orders_365d": predictions["expected_orders"].astype(float),
            "method": pyfunc.model.method,
            **_run_columns(as_of, name, version, run_id, len(frame)),
        }
    )
    return write_scores(con, CLV_SCORES_TABLE, scores, as_of, name)
