"""Rapport's whole flow in one run, for the demo and the tests (`rapport run --airflow`, `rapport demo`).

Built from the same task factories as the chained production DAGs (rapport_ingest → rapport_transform
→ rapport_score → rapport_report, and rapport_train), but triggered by hand only and announcing no
Assets, so it never sets the production chain off. dbt runs as one `dbt build` task here whatever
RAPPORT_DBT_TASKS says (per-model tasks cost a dbt start each). Manual runs take `as_of`,
`sample_size` and `force_retrain`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import ingest_stage, report_stage, run_params, score_stage, train_stage, transform_stage
from rapport.orchestration import DAG_ID, task_defaults


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "demo"],
    default_args=task_defaults(),
    params=run_params(sample_size=True, force_retrain=True),
    render_template_as_native_obj=True,
    doc_md=__doc__,
)
def rapport_pipeline():
    marts_ok = transform_stage(ingest_stage(), per_model=False)
    report_stage(score_stage(train_stage(marts_ok)))


pipeline_dag = rapport_pipeline()
