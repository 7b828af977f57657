"""On new raw data: dbt core (staging, intermediate, feature marts, customer 360) as of the day, then
the mart gates. dbt runs as one `dbt build` task, or one task per model (RAPPORT_DBT_TASKS=models).

Announces the marts Asset, which starts rapport_score.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import MARTS, RAW, chained_dag_defaults, run_params, transform_stage
from rapport.orchestration import TRANSFORM_DAG_ID


@dag(
    dag_id=TRANSFORM_DAG_ID,
    schedule=[RAW],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "daily", "dbt"],
    default_args=chained_dag_defaults(TRANSFORM_DAG_ID),
    params=run_params(),
    render_template_as_native_obj=True,
    doc_md=__doc__,
)
def rapport_transform():
    transform_stage(None, outlet=MARTS)


transform_dag = rapport_transform()
