"""The stages of the flow, one plain function each: what the CLI, the DAG tasks and the tests call.

Every function takes plain arguments, does one stage, and returns a small JSON-serialisable dict
(row counts, run ids, model versions) that Airflow keeps as the task's XCom.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from datetime import date
from pathlib import Path

from rapport.settings import get_settings

log = logging.getLogger("rapport.pipeline")

MODELS = ("churn", "clv", "nbo", "sentiment")
# Quality gates (rapport.quality.GATES) by the stage they close: every raw table before dbt runs, the churn
# training set after the core build, then each score table's current partition and the score marts
# (customer_360, segment_health), which build_score_marts rebuilds after scoring.
GATES_BEFORE_TRANSFORM = ("raw",)
GATES_AFTER_TRANSFORM: tuple[str, ...] = ("churn_training_set",)
GATES_AFTER_SCORING = (
    "churn_scores",
    "churn_scores_shadow",
    "clv_scores",
    "offer_recommendations",
    "offer_suppressions",
    "review_sentiment",
    "review_aspects",
    "score_marts",
)


def holds_warehouse(stage):
    """Run ``stage`` holding the warehouse: DuckDB has one writer across processes, so a second run waits its turn."""

    @functools.wraps(stage)
    def locked(*args, **kwargs):
        from rapport.warehouse import writer_lock

        with writer_lock():
            return stage(*args, **kwargs)

    return locked


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


@holds_warehouse
def ingest(mapping_file: Path | None = None) -> dict:
    """Load new landing files into raw.* (bad rows to quarantine.*), through a mapping file if given."""
    from rapport.ingest import ingest as load

    return load(mapping_file=mapping_file).as_dict()


def feature_dates(as_of: date) -> list[date]:
    """Every as-of date dbt must compute features for: churn and CLV cutoffs, scoring date, campaign send dates."""
    from rapport import warehouse
    from rapport.ml.clv import configured_clv_cutoffs
    from rapport.ml.features import configured_churn_cutoffs, nbo_feature_dates

    dates = set(configured_churn_cutoffs(as_of).all()) | set(configured_clv_cutoffs(as_of))
    con = warehouse.connect()
    try:
        if warehouse.table_exists(con, "raw", "offer_responses"):
            dates.update(nbo_feature_dates(con, as_of))
    finally:
        con.close()
    return sorted(dates)


@holds_warehouse
def transform(as_of: date, select: str | None = None) -> dict:
    """dbt build (models and their tests) as of a date: the ``core`` selector unless ``select`` names nodes.

    ``core`` never reads ml.* scores, so the features the models train on cannot depend on them.
    """
    from rapport import transform as dbt

    selector = None if select else dbt.CORE_SELECTOR
    return dbt.build(as_of, select=select, selector=selector, feature_cutoffs=feature_dates(as_of))


@holds_warehouse
def build_score_marts(as_of: date) -> dict:
    """dbt build of the marts that read the scores (customer_360, its history, segment_health), after scoring."""
    from rapport import transform as dbt

    return dbt.build(as_of, selector=dbt.SCORE_MARTS_SELECTOR)


@holds_warehouse
def validate(gate: str, run_id: str | None = None, as_of: date | None = None) -> dict:
    """Run one Great Expectations gate as of a date (default today), record its result and drift profiles in
    ops.gate_results / ops.gate_profiles; raise QualityGateError when a critical expectation fails."""
    from datetime import UTC, datetime

    from rapport.quality import QualityGateError, run_gate

    as_of = as_of or datetime.now(UTC).date()
    run_id = run_id or "manual"
    result = run_gate(gate, as_of=as_of, run_id=run_id)
    _record_gate(result.as_dict(), run_id, as_of)
    if not result.success:
        raise QualityGateError(result)
    return result.as_dict()


def _record_gate(result: dict, run_id: str, as_of: date) -> None:
    """One row per (run, gate): a retried gate replaces its earlier result instead of adding one.

    ``failed`` counts critical failures, ``warned`` the rest; ``details`` holds both (each with its
    severity). The gate's drift profiles become the next run's reference only when the gate passed.
    """
    import json
    from datetime import UTC, datetime

    from rapport import warehouse
    from rapport.quality_drift import record_profiles

    con = warehouse.connect()
    try:
        con.execute(
            "create table if not exists ops.gate_results (run_id varchar, as_of_date date, suite varchar, "
            "success boolean, evaluated integer, failed integer, data_docs varchar, details json, checked_at timestamp)"
        )
        con.execute("alter table ops.gate_results add column if not exists warned integer")
        stats = result.get("statistics") or {}
        findings = [*(result.get("failed") or []), *(result.get("warnings") or [])]
        with warehouse.transaction(con):
            con.execute("delete from ops.gate_results where run_id = ? and suite = ?", [run_id, result.get("suite")])
            con.execute(
                "insert into ops.gate_results (run_id, as_of_date, suite, success, evaluated, failed, data_docs, "
                "details, checked_at, warned) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    as_of,
                    result.get("suite"),
                    bool(result.get("success")),
                    stats.get("evaluated_expectations"),
                    len(result.get("failed") or []),
                    result.get("data_docs_path"),
                    json.dumps(findings, default=str),
                    datetime.now(UTC).replace(tzinfo=None),
                    len(result.get("warnings") or []),
                ],
            )
            record_profiles(
                con, result["suite"], result.get("profiles") or {}, run_id, as_of, bool(result.get("success"))
            )
    finally:
        con.close()


@holds_warehouse
def train(model: str, as_of: date) -> dict:
    """Train one model (never promotes it)."""
    if model == "churn":
        from rapport.ml.churn import train_churn

        return train_churn(as_of)
    if model == "clv":
        from rapport.ml.clv import train_clv

        return train_clv(as_of)
    if model == "nbo":
        from rapport.ml.nbo import train_nbo

        return train_nbo(as_of)
    if model == "sentiment":
        from rapport.ml.sentiment import train_sentiment

        return train_sentiment(as_of)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def training_due(model: str, force: bool = False) -> dict:
    """Whether a scheduled run should retrain ``model``: when forced, when it has no @champion, or when the
    champion is older than ``RAPPORT_RETRAIN_AFTER_DAYS``; retraining a fresh champion would only add a version."""
    from datetime import UTC, datetime

    from rapport.ml.registry import champion_version

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    max_age = get_settings().retrain_after_days
    if force:
        return {"model": model, "due": True, "reason": "force_retrain was set"}
    champion = champion_version(f"rapport-{model}")
    if champion is None:
        return {"model": model, "due": True, "reason": f"rapport-{model} has no @champion yet"}
    age_days = (datetime.now(UTC).timestamp() * 1000 - champion.creation_timestamp) / 86_400_000
    due = age_days >= max_age
    verdict = "at least" if due else "younger than"
    reason = f"@champion version {champion.version} is {age_days:.1f} days old, {verdict} {max_age} days"
    return {"model": model, "due": due, "reason": reason}


def promote(model: str, version: str | None = None) -> dict:
    """The promotion gate: the challenger becomes @champion only if it beats the champion (or baseline)."""
    if model == "churn":
        from rapport.ml.churn import promote_churn

        return promote_churn(version)
    if model == "clv":
        from rapport.ml.clv import promote_clv

        return promote_clv(version)
    if model == "nbo":
        from rapport.ml.nbo import promote_nbo

        return promote_nbo(version)
    if model == "sentiment":
        from rapport.ml.sentiment import promote_sentiment

        return promote_sentiment(version)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


@holds_warehouse
def score(model: str, as_of: date, run_id: str | None = None) -> dict:
    """Score with the @champion model and write the scores back to ml.* (partition replaced)."""
    from rapport import warehouse
    from rapport.ml.registry import champion_version

    run_id = run_id or new_run_id()
    if champion_version(f"rapport-{model}") is None:
        # The gate refused every version so far (say, no better than its baseline): nothing trustworthy to score
        # with. The run goes on without these scores; their gates warn instead of failing, and the report says why.
        reason = f"rapport-{model} has no @champion: the promotion gate has not accepted a version yet"
        log.warning("score %s skipped: %s", model, reason)
        return {"model": model, "as_of": as_of.isoformat(), "rows": 0, "scoring_run_id": run_id, "skipped": reason}
    con = warehouse.connect()
    try:
        if model == "churn":
            from rapport.ml.churn import score_churn

            rows = score_churn(con, as_of, run_id)
        elif model == "clv":
            from rapport.ml.clv import score_clv

            rows = score_clv(con, as_of, run_id)
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


@holds_warehouse
def export_campaigns(as_of: date) -> dict:
    """Per-channel campaign lists and suppression lists of the offers decided at ``as_of``, consent re-checked."""
    from rapport.campaigns import export_campaigns as export
    from rapport.ml.registry import champion_version

    if champion_version("rapport-nbo") is None:
        log.warning("export_campaigns skipped: rapport-nbo has no @champion, so no offers were decided")
        return {"as_of": as_of.isoformat(), "skipped": "rapport-nbo has no @champion"}
    return export(as_of)


@holds_warehouse
def publish() -> dict:
    """Swap a read-only copy of the BI-facing tables in for BI tools."""
    from rapport.publish import publish as swap_in

    return swap_in()


@holds_warehouse
def report(as_of: date, run_id: str | None = None) -> dict:
    """Write the one-page HTML relationship report."""
    from rapport.report import build_report

    path = build_report(as_of, run_id=run_id)
    return {"report": str(path)}


@holds_warehouse
def apply_deletion_requests() -> dict:
    """Forget every customer with a request in raw.deletion_requests (tables, BI copies, files; audited)."""
    from rapport.trust.erasure import apply_deletion_requests as honour

    return honour()


@holds_warehouse
def forget(customer_ids: list[str]) -> list[dict]:
    """Forget customers on requests made outside the sources (`rapport forget`)."""
    from rapport.trust.erasure import ErasureRequest, forget_all

    return forget_all([ErasureRequest(customer_id) for customer_id in customer_ids])


@holds_warehouse
def apply_retention(as_of: date) -> dict:
    """Delete rows and files older than their time to live (config/retention.yaml); audited."""
    from rapport.trust.retention import apply_retention as expire

    return expire(as_of)


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
    stage("apply_deletion_requests", apply_deletion_requests)
    stage("apply_retention", apply_retention, as_of)
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
    stage("build_score_marts", build_score_marts, as_of)
    for gate in GATES_AFTER_SCORING:
        stage(f"validate_{gate}", validate, gate, run_id, as_of)
    stage("export_campaigns", export_campaigns, as_of)
    stage("publish", publish)
    stage("report", report, as_of, run_id)
    return summary


def default_landing_is_empty() -> bool:
    landing = Path(get_settings().landing_dir)
    return not landing.exists() or not any(landing.iterdir())
