"""Production-shaped Airflow: a real api-server, scheduler and dag-processor, with the machine's PostgreSQL
as metadata DB (a throw-away database), run rapport_ingest and then rapport_transform, which the raw Asset
it announces starts. Tasks run on a Celery worker with Redis as broker, as in docker-compose.yml.

The runs are the live days of ``airflow_stack.run_live_and_backfill`` (fixture ``airflow_scenarios``),
shared with test_airflow_backfill.py so the suite starts the stack and runs the days once.
"""

from __future__ import annotations

import duckdb
import pytest
from airflow_stack import DATES

from rapport.orchestration import INGEST_DAG_ID, TRANSFORM_DAG_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_workers_run_ingest_then_the_asset_triggered_transform(airflow_scenarios):
    runs = [(dag_id, run_type, state) for dag_id, run_type, state, *_ in airflow_scenarios["runs"]["live"]]
    one_day = [(INGEST_DAG_ID, "manual", "success"), (TRANSFORM_DAG_ID, "asset_triggered", "success")]
    assert runs == one_day * len(DATES), runs
    hosts = airflow_scenarios["transform_hosts"]
    assert hosts and all(hosts), "a transform task ran without a Celery worker's hostname"
    with duckdb.connect(str(airflow_scenarios["snapshots"]["live"]), read_only=True) as con:
        features = con.execute(
            "select count(*) from marts.ml_customer_features where as_of_date = ?", [DATES[-1]]
        ).fetchone()[0]
    assert features > 0, "the transform run did not build the features as of the ingest run's as-of date"
