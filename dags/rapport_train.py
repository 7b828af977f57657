"""Weekly and on demand: train every model beside its baseline, then the promotion gate per model.

A model whose @champion is younger than RAPPORT_RETRAIN_AFTER_DAYS is skipped unless the run sets
`force_retrain`. Announces the champions Asset when a promotion gate has decided.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import CHAMPIONS, chained_dag_defaults, run_params, train_stage
from rapport.orchestration import TRAIN_DAG_ID


@dag(
    dag_id=TRAIN_DAG_ID,
    schedule="@weekly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "weekly", "ml"],
    default_args=chained_dag_defaults(TRAIN_DAG_ID),
    params=run_params(force_retrain=True),
    doc_md=__doc__,
)
def rapport_train():
    train_stage(outlet=CHAMPIONS)


train_dag = rapport_train()
