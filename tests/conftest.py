"""Test session set-up: every test runs against a throw-away RAPPORT_HOME, never the user's var/.

Airflow reads its configuration when first imported, so the session's Airflow home is fixed here,
before any test imports it. Tests that need a home of their own set RAPPORT_HOME with monkeypatch.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

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

from rapport.orchestration import airflow_env, apply_environment  # noqa: E402

apply_environment(airflow_env())
