"""Rapport's daily pipeline: landing files to customer 360, models, scores, BI copy and report.

Wiring only: every task imports inside its body and calls one function of `rapport.pipeline`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, get_current_context, task

from rapport.orchestration import DAG_ID, SCORES_ASSET_URI, WAREHOUSE_ASSET_URI

MARTS = Asset(WAREHOUSE_ASSET_URI)
SCORES = Asset(SCORES_ASSET_URI)


def _as_of():
    from rapport.orchestration import as_of_from_context

    context = get_current_context()
    return as_of_from_context(context["params"], context.get("logical_date"))


def _run_id() -> str:
    return get_current_context()["run_id"]


@dag(
    dag_id=DAG_ID,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,  # DuckDB allows one writer: tasks that touch the warehouse run one at a time
    tags=["rapport", "daily"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
    params={"as_of": Param(None, type=["null", "string"], description="As-of date YYYY-MM-DD (default: logical date)")},
    doc_md=__doc__,
)
def rapport_pipeline():
    @task
    def ingest() -> dict:
        from rapport import pipeline

        return pipeline.ingest()

    @task
    def validate_raw_orders(_: dict) -> dict:
        from rapport import pipeline

        return pipeline.validate("raw_orders", _run_id(), _as_of())

    @task(outlets=[MARTS])
    def transform(_: dict) -> dict:
        from rapport import pipeline

        return pipeline.transform(_as_of())

    @task
    def validate_customer_360(_: dict) -> dict:
        from rapport import pipeline

        return pipeline.validate("customer_360", _run_id(), _as_of())

    @task
    def train(model: str, _: dict) -> dict:
        from rapport import pipeline

        return pipeline.train(model, _as_of())

    @task
    def promote(model: str, trained: dict) -> dict:
        from rapport import pipeline

        return pipeline.promote(model, trained["model_version"])

    @task(outlets=[SCORES])
    def score(model: str, _: dict) -> dict:
        from rapport import pipeline

        return pipeline.score(model, _as_of(), _run_id())

    @task
    def validate_scores(_: list[dict]) -> list[dict]:
        from rapport import pipeline

        return [pipeline.validate(gate, _run_id(), _as_of()) for gate in pipeline.GATES_AFTER_SCORING]

    @task
    def publish(_: list[dict]) -> dict:
        from rapport import pipeline

        return pipeline.publish()

    @task
    def report(_: dict) -> dict:
        from rapport import pipeline

        return pipeline.report(_as_of(), _run_id())

    marts_ok = validate_customer_360(transform(validate_raw_orders(ingest())))
    scored = []
    for model in ("churn", "nbo", "sentiment"):
        trained = train.override(task_id=f"train_{model}")(model, marts_ok)
        promoted = promote.override(task_id=f"promote_{model}")(model, trained)
        scored.append(score.override(task_id=f"score_{model}")(model, promoted))
    report(publish(validate_scores(scored)))


pipeline_dag = rapport_pipeline()
