"""Fixtures shared by the integration test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_scenarios(tmp_path_factory):
    """The live, backfill and rerun runs of rapport_ingest → rapport_transform on one real Airflow stack
    (``airflow_stack.run_live_and_backfill``), done once for the backfill and the Celery test modules; the
    stack is stopped before the first test looks at the results."""
    from airflow_stack import run_live_and_backfill

    return run_live_and_backfill(tmp_path_factory.mktemp("airflow_stack"))
