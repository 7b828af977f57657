"""Test session set-up: every test runs against a throw-away RAPPORT_HOME, never the user's var/.

Airflow reads its configuration when first imported, so the session's Airflow home is fixed here,
before any test imports it. Tests that need a home of their own set RAPPORT_HOME with monkeypatch.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from rapport.orchestration import airflow_env, apply_environment

SESSION_HOME = Path(tempfile.mkdtemp(prefix="rapport-test-"))
atexit.register(shutil.rmtree, SESSION_HOME, ignore_errors=True)
os.environ["RAPPORT_HOME"] = str(SESSION_HOME)
# A developer's own overrides must never point the tests at their real state.
for _name in (
    "RAPPORT_WAREHOUSE",
    "RAPPORT_LANDING_DIR",
    "RAPPORT_SERVING_PATH",
    "RAPPORT_SENTIMENT_MODEL",
    "MLFLOW_TRACKING_URI",
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
):
    os.environ.pop(_name, None)
os.environ.setdefault("RAPPORT_SENTIMENT_TRAIN_SIZE", "600")
os.environ.setdefault("RAPPORT_SENTIMENT_EVAL_SIZE", "300")
os.environ.setdefault("RAPPORT_TUNING_TRIALS", "3")

apply_environment(airflow_env())

E2E_AS_OF = date(2026, 11, 1)
E2E_CUSTOMERS = int(os.environ.get("RAPPORT_E2E_CUSTOMERS", "500"))
E2E_START = date(2024, 11, 1)


def _own_mlflow_store(patch: pytest.MonkeyPatch) -> None:
    """Point MLFLOW_TRACKING_URI at the current RAPPORT_HOME's store through ``patch``, so undoing the patch
    restores the previous value. mlflow.set_tracking_uri (configure_mlflow) exports the variable itself; a
    fixture that only deleted it would leave its own store behind for every later test (the e2e run found a
    champion another module had registered)."""
    from rapport.settings import get_settings

    patch.delenv("MLFLOW_TRACKING_URI", raising=False)  # so the settings derive the URI from RAPPORT_HOME
    patch.setenv("MLFLOW_TRACKING_URI", get_settings().mlflow_tracking_uri)


@pytest.fixture(autouse=True)
def _restore_mlflow_tracking_uri():
    """Undo, after every test, the MLFLOW_TRACKING_URI that configure_mlflow exported during it (tests that
    point RAPPORT_HOME elsewhere must not leave their MLflow store to the tests after them)."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    """A RAPPORT_HOME of the test module's own (warehouse, MLflow store, models), set for the whole module."""
    home = tmp_path_factory.mktemp("rapport_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAPPORT_HOME", str(home))
        _own_mlflow_store(patch)
        yield home


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


@pytest.fixture()
def pipeline_home_copy(pipeline_run, tmp_path, monkeypatch):
    """A private copy of the shared pipeline run's RAPPORT_HOME, for tests that change it (erasure, offline runs).

    MLflow's store keeps absolute artifact locations, so models still load from the shared run's folder.
    """
    from rapport.settings import get_settings

    home = tmp_path / "home"
    shutil.copytree(get_settings().home, home, ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("RAPPORT_HOME", str(home))
    _own_mlflow_store(monkeypatch)
    return home
