"""On new scores: the one-page HTML relationship report of the day."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import SCORES, chained_dag_defaults, report_stage, run_params
from rapport.orchestration import REPORT_DAG_ID


@dag(
    dag_id=REPORT_DAG_ID,
    schedule=[SCORES],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "daily", "report"],
    default_args=chained_dag_defaults(REPORT_DAG_ID),
    params=run_params(),
    doc_md=__doc__,
)
def rapport_report():
    report_stage()


report_dag = rapport_report()
