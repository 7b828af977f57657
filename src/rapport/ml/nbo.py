"""Next best offer: the response an offer causes (uplift), and the policy that turns it into recommendations.

Training reads every randomised campaign assignment, treated and control, with customer features as of the
send date (``marts.ml_nbo_training``), and fits a T-learner (``rapport.ml.uplift``): its treated half is the
plain response-propensity model, the difference with its control half is the uplift. The latest campaigns
are held out; there the uplift ranking is judged by its Qini coefficient and uplift@k against random
targeting, the propensity ranking and offer popularity (each a baseline run), and the offer it would
recommend by hit rate@k. Training registers a version and never promotes it; ``promote_nbo`` is the gate.

Scoring prices every allowed (customer, offer) pair with the champion and hands them to the decision policy
(``rapport.ml.nbo_policy.decide_offers``); recommendations go to ``ml.offer_recommendations`` and every
exclusion with its reason to ``ml.offer_suppressions``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from rapport import warehouse
from rapport.ml.churn import reading_connection, require_both_classes, require_features_at, write_scores
from rapport.ml.config import load_model_config, model_config_path
from rapport.ml.evaluation import binary_metrics
from rapport.ml.features import FEATURES_TABLE, NBO_TRAINING_TABLE, PROFILING_CONSENTED, data_version
from rapport.ml.features import feature_matrix as customer_matrix
from rapport.ml.nbo_policy import OfferCatalog, PolicySettings, decide_offers, load_offer_catalog
from rapport.ml.registry import BASELINE_PREFIX
from rapport.ml.uplift import TLearner, fit_t_learner, hit_rate_at_k, qini_coefficient, qini_figure, uplift_at_k

OFFER_RECOMMENDATIONS_TABLE = "ml.offer_recommendations"
OFFER_SUPPRESSIONS_TABLE = "ml.offer_suppressions"
OFFER_TYPE_PREFIX = "offer_type_"
CONSENT_CHANNELS = ("email", "sms", "push")


def _offer_types(config: dict[str, Any]) -> list[str]:
    from rapport.contract import OFFER_TYPES

    return list(config.get("offer_types") or OFFER_TYPES)


def offer_columns(offer_types: list[str]) -> list[str]:
    return [f"{OFFER_TYPE_PREFIX}{offer_type}" for offer_type in offer_types]


def nbo_matrix(frame: pd.DataFrame, features: list[str], offer_types: list[str]) -> pd.DataFrame:
    """Customer features followed by one ``offer_type_<type>`` indicator per known offer type."""
    matrix = customer_matrix(frame, features)
    for offer_type, column in zip(offer_types, offer_columns(offer_types), strict=True):
        matrix[column] = (frame["offer_type"] == offer_type).astype("float64").to_numpy()
    return matrix


def load_nbo_training_rows(con: duckdb.DuckDBPyConnection, as_of: date, response_window_days: int) -> pd.DataFrame:
    """Treated and control assignments with a settled outcome before ``as_of``, profiling-consented customers."""
    settled_before = as_of - timedelta(days=response_window_days)
    return con.execute(
        f"""
        select f.*, cast(f.has_responded as boolean) as has_responded,
               f.assignment_group = 'treatment' as is_treated
        from {NBO_TRAINING_TABLE} as f
        where f.assignment_group in ('treatment', 'control') and f.sent_date < ? and {PROFILING_CONSENTED}
        order by f.sent_date, f.assignment_id
        """,
        [settled_before],
    ).df()


def split_by_campaign_date(rows: pd.DataFrame, holdout_share: float) -> tuple[pd.DataFrame, pd.DataFrame, date]:
    """Out-of-time split: assignments sent on or after the first send date of the latest campaigns are held out."""
    starts = rows.groupby("campaign_id")["sent_date"].min().sort_values()
    if len(starts) < 2:
        raise ValueError(f"need at least two campaigns for an out-of-time split, got {len(starts)}")
    n_holdout = min(len(starts) - 1, max(1, int(np.ceil(len(starts) * holdout_share))))
    holdout_from = starts.iloc[-n_holdout]
    is_holdout = rows["sent_date"] >= holdout_from
    if is_holdout.all():
        raise ValueError("every campaign starts on the same date: no out-of-time split possible")
    return rows[~is_holdout], rows[is_holdout], pd.Timestamp(holdout_from).date()


def require_both_groups(rows: pd.DataFrame, what: str) -> None:
    """Raise unless ``rows`` hold treated and control assignments, each with both outcomes."""
    for treated, group in ((True, "treated"), (False, "control")):
        require_both_classes(rows.loc[rows["is_treated"] == treated, "has_responded"], f"{what} {group}")


def popularity_rates(train: pd.DataFrame, offer_types: list[str]) -> pd.Series:
    """Baseline: each offer type's treated response rate on the training campaigns (overall rate if unseen)."""
    treated = train[train["is_treated"]]
    rates = treated.groupby("offer_type")["has_responded"].mean()
    return rates.reindex(offer_types).fillna(float(treated["has_responded"].mean())).astype("float64")


def score_every_offer(
    learner: TLearner, frame: pd.DataFrame, features: list[str], offer_types: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uplift and propensity of every offer type for each row of ``frame`` (columns = offer types)."""
    uplift, propensity = {}, {}
    for offer_type in offer_types:
        X = nbo_matrix(frame.assign(offer_type=offer_type), features, offer_types)
        propensity[offer_type] = learner.response(X)
        uplift[offer_type] = propensity[offer_type] - learner.control_response(X)
    return pd.DataFrame(uplift, index=frame.index), pd.DataFrame(propensity, index=frame.index)


def ranking_metrics(holdout: pd.DataFrame, score: np.ndarray, offer_scores: pd.DataFrame, evaluation: dict) -> dict:
    """Qini coefficient, uplift@k and hit rate@k of one ranking on the held-out campaigns."""
    y, treated = holdout["has_responded"].astype(int).to_numpy(), holdout["is_treated"].to_numpy(dtype=bool)
    responses = (holdout["is_treated"] & holdout["has_responded"]).to_numpy()
    return {
        "val_qini_coefficient": qini_coefficient(y, treated, score),
        "val_uplift_at_k": uplift_at_k(y, treated, score, float(evaluation.get("top_k_share", 0.3))),
        "val_hit_rate_at_k": hit_rate_at_k(
            offer_scores[responses], holdout.loc[responses, "offer_type"], int(evaluation.get("hit_rate_k", 1))
        ),
    }


def evaluate_on_holdout(
    learner: TLearner, train: pd.DataFrame, holdout: pd.DataFrame, features: list[str], offer_types: list[str], config
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics per ranking (``uplift`` = the model; ``propensity``, ``popularity``, ``random`` = baselines).

    Random targeting is its expectation: Qini 0, uplift@k the holdout's average uplift, hit rate k / offers.
    The treated rows also give the response model's shared classification metrics.
    """
    evaluation = config.get("evaluation", {})
    X = nbo_matrix(holdout, features, offer_types)
    uplift_scores, propensity_scores = score_every_offer(learner, holdout, features, offer_types)
    popularity = popularity_rates(train, offer_types)
    popularity_scores = pd.DataFrame([popularity.to_numpy()] * len(holdout), index=holdout.index, columns=offer_types)
    rankings = {
        "uplift": (learner.uplift(X), uplift_scores),
        "propensity": (learner.response(X), propensity_scores),
        "popularity": (holdout["offer_type"].map(popularity).to_numpy(), popularity_scores),
    }
    metrics = {name: ranking_metrics(holdout, score, offers, evaluation) for name, (score, offers) in rankings.items()}
    treated = holdout[holdout["is_treated"]]
    response_metrics = binary_metrics(treated["has_responded"].astype(int), learner.response(X[holdout["is_treated"]]))
    metrics["uplift"].update(response_metrics)
    metrics["propensity"].update(response_metrics)
    metrics["popularity"].update(
        binary_metrics(treated["has_responded"].astype(int), treated["offer_type"].map(popularity))
    )
    by_group = holdout.groupby("is_treated")["has_responded"].mean()
    metrics["random"] = {
        "val_qini_coefficient": 0.0,
        "val_uplift_at_k": float(by_group[True] - by_group[False]),
        "val_hit_rate_at_k": min(1.0, int(evaluation.get("hit_rate_k", 1)) / len(offer_types)),
    }
    return metrics, {name: score for name, (score, _) in rankings.items()}


def _log_runs(
    config: dict, learner: TLearner, X_train: pd.DataFrame, holdout: pd.DataFrame, evaluated, params: dict, tags: dict
) -> dict[str, Any]:
    """One run per baseline ranking (tag ``baseline=<name>``), then the model run with the Qini plot and the
    gate baseline's metrics prefixed ``baseline_``; the model is registered, never promoted."""
    import matplotlib.pyplot as plt
    import mlflow

    from rapport.ml.nbo_model import log_uplift_model
    from rapport.ml.registry import configure_mlflow, get_or_create_experiment

    metrics, scores = evaluated
    gate_baseline = config["promotion"].get("baseline", "propensity")
    configure_mlflow()
    experiment_id = get_or_create_experiment(config["experiment"])
    baseline_runs = {}
    for name in ("random", "popularity", "propensity"):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"baseline-{name}") as run:
            mlflow.set_tags({**tags, "baseline": name})
            mlflow.log_metrics(metrics[name])
            baseline_runs[name] = run.info.run_id
    with mlflow.start_run(experiment_id=experiment_id, run_name="t-learner") as run:
        mlflow.set_tags({**tags, "baseline_run_id": baseline_runs[gate_baseline], "gate_baseline": gate_baseline})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics["uplift"])
        mlflow.log_metrics({f"{BASELINE_PREFIX}{k}": v for k, v in metrics[gate_baseline].items()})
        y, treated = holdout["has_responded"].astype(int), holdout["is_treated"].to_numpy(dtype=bool)
        fig = qini_figure(y, treated, scores)
        mlflow.log_figure(fig, "qini_curve.png")
        plt.close(fig)
        version = log_uplift_model(learner, X_train.head(5), config["model_name"])
    return {
        "run_id": run.info.run_id,
        "baseline_run_ids": baseline_runs,
        "model_name": config["model_name"],
        "model_version": version,
        **metrics["uplift"],
        **{f"{name}_{k}": v for name in baseline_runs for k, v in metrics[name].items()},
        f"{BASELINE_PREFIX}{config['promotion']['metric']}": metrics[gate_baseline][config["promotion"]["metric"]],
    }


def train_nbo(as_of: date, con: duckdb.DuckDBPyConnection | None = None, *, config: dict | None = None) -> dict:
    """Train the uplift model as of ``as_of`` on randomised campaigns, judge it on the latest ones beside
    random, propensity and popularity targeting, log and register it; never promote."""
    config = config or load_model_config("nbo")
    with reading_connection(con) as reader:
        rows = load_nbo_training_rows(reader, as_of, int(config.get("response_window_days", 30)))
    require_both_groups(rows, f"NBO training (sent before {as_of.isoformat()})")
    train, holdout, holdout_from = split_by_campaign_date(rows, float(config.get("holdout_campaign_share", 0.25)))
    require_both_groups(train, "NBO training split")
    require_both_groups(holdout, f"NBO holdout (sent from {holdout_from.isoformat()})")
    features, offer_types = list(config["features"]), _offer_types(config)
    X_train = nbo_matrix(train, features, offer_types)
    learner = fit_t_learner(
        X_train, train["has_responded"], train["is_treated"], train["customer_id"], offer_columns(offer_types), config
    )
    evaluated = evaluate_on_holdout(learner, train, holdout, features, offer_types, config)
    sizes = {
        "n_train_rows": len(train),
        "n_train_control_rows": int((~train["is_treated"]).sum()),
        "n_holdout_rows": len(holdout),
        "n_holdout_control_rows": int((~holdout["is_treated"]).sum()),
    }
    result = _log_runs(
        config,
        learner,
        X_train,
        holdout,
        evaluated,
        params={
            **{f"treated_{k}": v for k, v in learner.treated.get_params().items() if k in config["xgboost"]},
            "treated_n_estimators": learner.treated.n_estimators,
            "control_n_estimators": learner.control.n_estimators,
            "learner": "t_learner",
            "n_features": X_train.shape[1],
            **sizes,
            **{f"evaluation_{k}": v for k, v in config.get("evaluation", {}).items()},
        },
        tags={
            "model": "nbo",
            "as_of_date": as_of.isoformat(),
            "data_version": data_version(rows),
            "holdout_from": holdout_from.isoformat(),
            "holdout_campaigns": ",".join(sorted(holdout["campaign_id"].astype(str).unique())),
        },
    )
    return {**result, **sizes}


def promote_nbo(version: str | None = None) -> dict:
    """Promote an NBO version (default the newest) to ``@champion`` if it passes the Qini gate."""
    from rapport.ml.registry import promote_model

    return promote_model(load_model_config("nbo"), version)


def load_offer_rules(config: dict) -> tuple[OfferCatalog, PolicySettings]:
    """The offer catalog (next to the config) and the policy settings."""
    path = model_config_path("nbo").parent / config.get("policy", {}).get("catalog", "offer_catalog.yaml")
    return load_offer_catalog(path), PolicySettings.from_config(config)


def _optional_scores(con: duckdb.DuckDBPyConnection, table: str, column: str, as_of: date) -> str:
    """A CTE body with the latest ``column`` per customer at ``as_of`` from ``table``, empty if not there."""
    schema, name = table.split(".")
    has_column = (
        warehouse.table_exists(con, schema, name)
        and con.execute(
            "select count(*) from information_schema.columns where table_schema = ? and table_name = ? "
            "and column_name = ?",
            [schema, name, column],
        ).fetchone()[0]
    )
    if not has_column:
        return f"select cast(null as varchar) as customer_id, cast(null as double) as {column} limit 0"
    return (
        f"select customer_id, arg_max({column}, scored_at) as {column} from {table} "
        f"where as_of_date = date '{as_of.isoformat()}' group by customer_id"
    )


def load_candidate_pairs(
    con: duckdb.DuckDBPyConnection, as_of: date, features: list[str], settings: PolicySettings
) -> pd.DataFrame:
    """Every (customer, offer) pair at ``as_of`` with what the policy needs to allow, price and explain it.

    Consent comes from ``marts.dim_customer`` (built by the core dbt selection, before scoring) as of ``as_of``; offers from the
    latest ``raw.offers`` version; contacts (email/SMS sends, push offer sends) from the fatigue window
    before ``as_of``; the last treated send of each offer type from the campaign history.
    """
    channel_consent = " ".join(f"when '{channel}' then c.has_{channel}_consent" for channel in CONSENT_CHANNELS)
    window_start = as_of - timedelta(days=settings.fatigue_window_days)
    columns = ", ".join(f"f.{name}" for name in dict.fromkeys([*features, "monetary_365d", "is_active_365d"]))
    return con.execute(
        f"""
        with consents as (
            select * from marts.dim_customer
            where as_of_date <= $as_of
            qualify row_number() over (partition by customer_id order by as_of_date desc) = 1
        ),
        offers as (
            select offer_id, offer_type, channel, cast(unit_cost as double) as unit_cost
            from raw.offers
            where cast(updated_at as date) <= $as_of
            qualify row_number() over (partition by offer_id order by updated_at desc) = 1
        ),
        treated_sends as (
            select r.customer_id, r.sent_at, o.offer_type, o.channel
            from staging.stg_marketing__offer_responses as r
            join offers as o on o.offer_id = r.offer_id
            where r.assignment_group = 'treatment' and r.sent_at < $as_of
        ),
        contacts as (
            select customer_id, count(*) as contacts_in_window
            from (
                select customer_id, occurred_at as contacted_at from staging.stg_marketing__interactions
                where interaction_type = 'sent'
                union all
                select customer_id, sent_at from treated_sends where channel = 'push'
            )
            where contacted_at >= $window_start and contacted_at < $as_of
            group by customer_id
        ),
        last_sends as (
            select customer_id, offer_type, max(sent_at) as last_sent_at from treated_sends group by all
        ),
        churn as ({_optional_scores(con, "ml.churn_scores", "churn_probability", as_of)}),
        clv as ({_optional_scores(con, "ml.clv_scores", "predicted_clv_365d", as_of)})
        select
            f.customer_id, {columns},
            coalesce(cast(f.has_profiling_consent as boolean), false) as has_profiling_consent,
            o.offer_id, o.offer_type, o.channel, o.unit_cost,
            coalesce(cast(c.has_marketing_consent as boolean), false) as is_marketing_consented,
            coalesce(cast(case o.channel {channel_consent} end as boolean), false) as is_channel_consented,
            coalesce(k.contacts_in_window, 0) as contacts_in_window,
            date_diff('day', cast(s.last_sent_at as date), $as_of) as days_since_same_offer,
            churn.churn_probability,
            clv.predicted_clv_365d,
        from {FEATURES_TABLE} as f
        cross join offers as o
        left join consents as c on c.customer_id = f.customer_id
        left join contacts as k on k.customer_id = f.customer_id
        left join last_sends as s on s.customer_id = f.customer_id and s.offer_type = o.offer_type
        left join churn on churn.customer_id = f.customer_id
        left join clv on clv.customer_id = f.customer_id
        where f.as_of_date = $as_of
        order by f.customer_id, o.offer_id
        """,
        {"as_of": as_of, "window_start": window_start},
    ).df()


def uplift_drivers(learner: TLearner, X: pd.DataFrame, reference: pd.Series, n: int) -> list[str]:
    """Per row, the ``n`` features that raise its uplift most (treated minus control SHAP contributions)."""
    from xgboost import DMatrix

    treated_names = learner.feature_names
    control_names = list(learner.control.get_booster().feature_names)
    treated = pd.DataFrame(
        learner.treated.get_booster().predict(DMatrix(X[treated_names]), pred_contribs=True)[:, :-1],
        columns=treated_names,
    )
    control = pd.DataFrame(
        learner.control.get_booster().predict(DMatrix(X[control_names]), pred_contribs=True)[:, :-1],
        columns=control_names,
    )
    customer_features = [name for name in treated_names if not name.startswith(OFFER_TYPE_PREFIX)]
    contributions = treated.sub(control, fill_value=0.0)[customer_features].to_numpy()
    values = X[customer_features].to_numpy(dtype="float64")
    medians = reference[customer_features].to_numpy(dtype="float64")
    top = np.argsort(-contributions, axis=1, kind="stable")[:, :n]
    drivers = []
    for i, columns in enumerate(top):
        words = []
        for j in columns:
            if contributions[i, j] <= 0:
                break
            level = "missing" if np.isnan(values[i, j]) else ("high" if values[i, j] >= medians[j] else "low")
            words.append(f"{customer_features[j]} {level}")
        drivers.append(", ".join(words))
    return drivers


def price_pairs(learner: TLearner, pairs: pd.DataFrame) -> pd.DataFrame:
    """Uplift and propensity for the profiling-consented pairs (NaN for the others: never scored)."""
    features = [name for name in learner.feature_names if not name.startswith(OFFER_TYPE_PREFIX)]
    offer_types = [name.removeprefix(OFFER_TYPE_PREFIX) for name in learner.offer_features]
    priced = pairs.assign(uplift=np.nan, propensity=np.nan)
    profiled = priced["has_profiling_consent"].to_numpy(dtype=bool)
    if profiled.any():
        X = nbo_matrix(priced[profiled], features, offer_types)
        priced.loc[profiled, "propensity"] = learner.response(X)
        priced.loc[profiled, "uplift"] = priced.loc[profiled, "propensity"] - learner.control_response(X)
    return priced


def _stamped(frame: pd.DataFrame, as_of: date, model_name: str, version: str, run_id: str) -> pd.DataFrame:
    return frame.assign(
        as_of_date=pd.Series([as_of] * len(frame), dtype="object", index=frame.index),
        model_name=model_name,
        model_version=version,
        scoring_run_id=run_id,
        scored_at=pd.Timestamp(datetime.now(UTC)).tz_localize(None),
    )


def score_offers(con: duckdb.DuckDBPyConnection, as_of: date, run_id: str) -> int:
    """Decide offers at ``as_of`` with the champion uplift model and the policy; write recommendations and
    suppressions, each partition (as-of date, model) replaced atomically; both carry the scoring run id, so
    a reader can tell when a failure between the two writes left them from different runs. Returns the
    number of recommendations."""
    from rapport.ml.nbo_model import load_uplift_model
    from rapport.ml.registry import champion_version, configure_mlflow

    config = load_model_config("nbo")
    model_name = config["model_name"]
    configure_mlflow()
    champion = champion_version(model_name)
    if champion is None:
        raise LookupError(f"registered model {model_name!r} has no @champion version: train it, then promote it")
    version = str(champion.version)
    learner = load_uplift_model(model_name, version)
    require_features_at(con, as_of)
    catalog, settings = load_offer_rules(config)
    customer_features = [name for name in learner.feature_names if not name.startswith(OFFER_TYPE_PREFIX)]
    pairs = price_pairs(learner, load_candidate_pairs(con, as_of, customer_features, settings))
    recommendations, suppressions = decide_offers(pairs, catalog, settings)
    if len(recommendations):
        offer_types = [name.removeprefix(OFFER_TYPE_PREFIX) for name in learner.offer_features]
        X = nbo_matrix(recommendations, customer_features, offer_types)
        reference = nbo_matrix(pairs[pairs["has_profiling_consent"]], customer_features, offer_types).median()
        drivers = uplift_drivers(learner, X, reference, int(config.get("scoring", {}).get("reason_features", 2)))
        recommendations["reason"] = [
            f"{reason}; drivers: {text}" if text else reason
            for reason, text in zip(recommendations["reason"], drivers, strict=True)
        ]
    written = _stamped(
        recommendations[
            [
                "customer_id",
                "rank",
                "offer_id",
                "offer_type",
                "channel",
                "uplift",
                "propensity",
                "value_at_stake",
                "cost",
                "expected_value",
                "is_holdout",
                "is_selected",
                "reason",
            ]
        ].astype({"rank": "int32", "is_holdout": bool, "is_selected": bool}),
        as_of,
        model_name,
        version,
        run_id,
    )
    stamped_suppressions = _stamped(suppressions, as_of, model_name, version, run_id)
    write_scores(con, OFFER_SUPPRESSIONS_TABLE, stamped_suppressions, as_of, model_name)
    return write_scores(con, OFFER_RECOMMENDATIONS_TABLE, written, as_of, model_name)
