"""On new marts: score every model with its @champion, write the scores back to ml.*, gate the score
tables and publish the BI copy.

Announces the scores Asset, which starts rapport_report.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import MARTS, SCORES, chained_dag_defaults, run_params, score_stage
from rapport.orchestration import SCORE_DAG_ID


@dag(
    dag_id=SCORE_DAG_ID,
    schedule=[MARTS],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "daily", "ml"],
    default_args=chained_dag_defaults(SCORE_DAG_ID),
    params=run_params(),
    doc_md=__doc__,
)
def rapport_score():
    score_stage(None, outlet=SCORES)


score_dag = rapport_score()
