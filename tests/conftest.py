"""Test session set-up: every test runs against a throw-away RAPPORT_HOME, never the user's var/.

Airflow reads its configuration when first imported, so the session's Airflow home is fixed here,
before any test imports it. Tests that need a home of their own set RAPPORT_HOME with monkeypatch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SESSION_HOME = Path(tempfile.mkdtemp(prefix="rapport-test-"))
os.environ["RAPPORT_HOME"] = str(SESSION_HOME)
os.environ.setdefault("RAPPORT_SENTIMENT_TRAIN_SIZE", "600")
os.environ.setdefault("RAPPORT_SENTIMENT_EVAL_SIZE", "300")

from rapport.orchestration import airflow_env, apply_environment  # noqa: E402

apply_environment(airflow_env())
