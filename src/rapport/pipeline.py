"""The stages of the flow, one plain function each: what the CLI, the DAG tasks and the tests call.

Every function takes plain arguments, does one stage, and returns a small JSON-serialisable dict
(row counts, run ids, model versions) that Airflow keeps as the task's XCom.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from pathlib import Path

from rapport.settings import get_settings

log = logging.getLogger("rapport.pipeline")

MODELS = ("churn", "nbo", "sentiment")
GATES_BEFORE_TRANSFORM = ("raw_orders",)
GATES_AFTER_TRANSFORM = ("customer_360",)
GATES_AFTER_SCORING = ("churn_scores", "offer_recommendations", "review_sentiment")


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def generate(customers: int = 5000, start: date | None = None, days: int = 730, seed: int = 42) -> dict:
    """Write a simulated data set as daily landing files."""
    from rapport.simulate import generate as simulate

    settings = get_settings()
    kwargs = {"start": start} if start else {}
    started = time.perf_counter()
    rows = simulate(settings.landing_dir, customers=customers, days=days, seed=seed, **kwargs)
    return {"landing_dir": str(settings.landing_dir), "rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def ingest() -> dict:
    """Load new landing files into raw.* (bad rows to quarantine.*)."""
    from rapport.ingest import ingest as load

    return load().as_dict()


def feature_dates(as_of: date) -> list[date]:
    """Every as-of date dbt must compute features for: churn cutoffs, scoring date, campaign send dates."""
    from rapport import warehouse
    from rapport.ml.features import configured_churn_cutoffs, nbo_feature_dates

    dates = set(configured_churn_cutoffs(as_of).all())
    con = warehouse.connect()
    try:
        if warehouse.table_exists(con, "raw", "offer_responses"):
            dates.update(nbo_feature_dates(con, as_of))
    finally:
        con.close()
    return sorted(dates)


def transform(as_of: date, select: str | None = None) -> dict:
    """dbt build (models and their tests) as of a date."""
    from rapport import transform as dbt

    return dbt.build(as_of, select=select, feature_cutoffs=feature_dates(as_of))


def validate(gate: str, run_id: str | None = None, as_of: date | None = None) -> dict:
    """Run one Great Expectations gate, record its result in ops.gate_results; raise QualityGateError on failure."""
    from rapport.quality import QualityGateError, run_gate

    result = run_gate(gate)
    _record_gate(result.as_dict(), run_id, as_of)
    if not result.success:
        raise QualityGateError(result)
    return result.as_dict()


def _record_gate(result: dict, run_id: str | None, as_of: date | None) -> None:
    """One row per (run, suite): a retried gate replaces its earlier result instead of adding one."""
    import json
    from datetime import UTC, datetime

    from rapport import warehouse

    run_id = run_id or "manual"
    con = warehouse.connect()
    try:
        con.execute(
            "create table if not exists ops.gate_results (run_id varchar, as_of_date date, suite varchar, "
            "success boolean, evaluated integer, failed integer, data_docs varchar, details json, checked_at timestamp)"
        )
        stats = result.get("statistics") or {}
        con.execute("delete from ops.gate_results where run_id = ? and suite = ?", [run_id, result.get("suite")])
        con.execute(
            "insert into ops.gate_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                as_of,
                result.get("suite"),
                bool(result.get("success")),
                stats.get("evaluated_expectations"),
                stats.get("unsuccessful_expectations"),
                result.get("data_docs_path"),
                json.dumps(result.get("failed") or [], default=str),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
    finally:
        con.close()


def train(model: str, as_of: date) -> dict:
    """Train one model (never promotes it)."""
    if model == "churn":
        from rapport.ml.churn import train_churn

        return train_churn(as_of)
    if model == "nbo":
        from rapport.ml.nbo import train_nbo

        return train_nbo(as_of)
    if model == "sentiment":
        from rapport.ml.sentiment import train_sentiment

        return train_sentiment(as_of)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def promote(model: str, version: str | None = None) -> dict:
    """The promotion gate: the challenger becomes @champion only if it beats the champion (or baseline)."""
    if model == "churn":
        from rapport.ml.churn import promote_churn

        return promote_churn(version)
    if model == "nbo":
        from rapport.ml.nbo import promote_nbo

        return promote_nbo(version)
    if model == "sentiment":
        from rapport.ml.sentiment import promote_sentiment

        return promote_sentiment(version)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def score(model: str, as_of: date, run_id: str | None = None) -> dict:
    """Score with the @champion model and write the scores back to ml.* (partition replaced)."""
    from rapport import warehouse

    run_id = run_id or new_run_id()
    con = warehouse.connect()
    try:
        if model == "churn":
            from rapport.ml.churn import score_churn

            rows = score_churn(con, as_of, run_id)
        elif model == "nbo":
            from rapport.ml.nbo import score_offers

            rows = score_offers(con, as_of, run_id)
        elif model == "sentiment":
            from rapport.ml.sentiment import score_reviews

            rows = score_reviews(con, as_of, run_id)
        else:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    finally:
        con.close()
    return {"model": model, "as_of": as_of.isoformat(), "rows": rows, "scoring_run_id": run_id}


def publish() -> dict:
    """Swap a read-only copy of the BI-facing tables in for BI tools."""
    from rapport.publish import publish as swap_in

    return swap_in()


def report(as_of: date, run_id: str | None = None) -> dict:
    """Write the one-page HTML relationship report."""
    from rapport.report import build_report

    path = build_report(as_of, run_id=run_id)
    return {"report": str(path)}


def run(as_of: date, run_id: str | None = None) -> dict:
    """The whole flow without Airflow, in the DAG's order."""
    run_id = run_id or new_run_id()
    summary: dict = {"run_id": run_id, "as_of": as_of.isoformat(), "stages": {}}

    def stage(name: str, func, *args, **kwargs):
        started = time.perf_counter()
        log.info("stage %s ...", name)
        result = func(*args, **kwargs)
        seconds = round(time.perf_counter() - started, 1)
        log.info("stage %s done in %.1f s", name, seconds)
        summary["stages"][name] = {"seconds": seconds, "result": result}
        return result

    stage("ingest", ingest)
    for gate in GATES_BEFORE_TRANSFORM:
        stage(f"validate_{gate}", validate, gate, run_id, as_of)
    stage("transform", transform, as_of)
    for gate in GATES_AFTER_TRANSFORM:
        stage(f"validate_{gate}", validate, gate, run_id, as_of)
    for model in MODELS:
        trained = stage(f"train_{model}", train, model, as_of)
        stage(f"promote_{model}", promote, model, trained["model_version"])
    for model in MODELS:
        stage(f"score_{model}", score, model, as_of, run_id)
    for gate in GATES_AFTER_SCORING:
        stage(f"validate_{gate}", validate, gate, run_id, as_of)
    stage("publish", publish)
    stage("report", report, as_of, run_id)
    return summary


def default_landing_is_empty() -> bool:
    landing = Path(get_settings().landing_dir)
    return not landing.exists() or not any(landing.iterdir())
