"""One pipeline run through Airflow (dag.test) on a tiny data set, shared by every e2e test."""

from __future__ import annotations

import os
from datetime import date

import pytest

E2E_AS_OF = date(2026, 11, 1)
E2E_CUSTOMERS = int(os.environ.get("RAPPORT_E2E_CUSTOMERS", "500"))
E2E_START = date(2024, 11, 1)


@pytest.fixture(scope="session")
def pipeline_run():
    """Generate ~500 customers over two years and run the rapport_pipeline DAG once."""
    from rapport import pipeline
    from rapport.airflow_run import run_dag

    generated = pipeline.generate(E2E_CUSTOMERS, E2E_START, (E2E_AS_OF - E2E_START).days)
    result = run_dag(E2E_AS_OF)
    return {"generated": generated, "dag": result, "as_of": E2E_AS_OF}


@pytest.fixture()
def warehouse_con(pipeline_run):
    from rapport import warehouse

    con = warehouse.connect()
    yield con
    con.close()
