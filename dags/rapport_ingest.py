"""Daily: load the day's landing files into raw.* (bad rows to quarantine.*) and gate raw.

Announces the raw Asset (with the as-of date), which starts rapport_transform.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from rapport.airflow_tasks import RAW, chained_dag_defaults, ingest_stage, run_params
from rapport.orchestration import INGEST_DAG_ID


@dag(
    dag_id=INGEST_DAG_ID,
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["rapport", "daily", "ingest"],
    default_args=chained_dag_defaults(INGEST_DAG_ID),
    params=run_params(sample_size=True),
    doc_md=__doc__,
)
def rapport_ingest():
    ingest_stage(outlet=RAW)


ingest_dag = rapport_ingest()
