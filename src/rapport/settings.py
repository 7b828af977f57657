"""Runtime settings, read from environment variables with safe local defaults.

Nothing happens at import time: call :func:`get_settings` where settings are needed. Every variable
is listed in `.env.example`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# The checkout holding dbt_project/, ml/, expectations/ and dags/ when installed from it (editable);
# RAPPORT_PROJECT_ROOT points elsewhere, e.g. where an Airflow image installs the package as a wheel.
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Where Rapport keeps its state and how it behaves; one instance per call site."""

    home: Path
    project_root: Path
    pii_salt: str
    mlflow_tracking_uri: str
    reviews_corpus: Path
    sentiment_model: str
    sentiment_train_size: int

    @property
    def warehouse_path(self) -> Path:
        return _env_path("RAPPORT_WAREHOUSE", self.home / "warehouse.duckdb")

    @property
    def landing_dir(self) -> Path:
        return _env_path("RAPPORT_LANDING_DIR", self.home / "landing")

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def serving_path(self) -> Path:
        return _env_path("RAPPORT_SERVING_PATH", self.home / "serving" / "bi.duckdb")

    @property
    def mlartifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def quality_dir(self) -> Path:
        return self.home / "quality"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def airflow_home(self) -> Path:
        return _env_path("AIRFLOW_HOME", self.home / "airflow")

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def expectations_dir(self) -> Path:
        return self.project_root / "expectations"

    @property
    def ml_config_dir(self) -> Path:
        return self.project_root / "ml"

    @property
    def dags_dir(self) -> Path:
        return self.project_root / "dags"


def get_settings() -> Settings:
    project_root = _env_path("RAPPORT_PROJECT_ROOT", CHECKOUT_ROOT)
    home = _env_path("RAPPORT_HOME", project_root / "var")
    default_tracking = f"sqlite:///{home / 'mlflow.db'}"
    return Settings(
        home=home,
        project_root=project_root,
        pii_salt=os.environ.get("RAPPORT_PII_SALT", "local-dev-salt-change-me"),
        mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", default_tracking),
        reviews_corpus=_env_path(
            "RAPPORT_REVIEWS_CORPUS",
            project_root / "data" / "reviews" / "womens_clothing_ecommerce_reviews.csv.gz",
        ),
        sentiment_model=os.environ.get("RAPPORT_SENTIMENT_MODEL", "champion"),
        sentiment_train_size=int(os.environ.get("RAPPORT_SENTIMENT_TRAIN_SIZE", "3000")),
    )


def parse_date(value: str | date) -> date:
    """Parse an ISO date (YYYY-MM-DD) given on a command line or by Airflow."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {value!r}") from exc
