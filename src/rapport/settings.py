"""Runtime settings, read from environment variables with safe local defaults.

Nothing happens at import time: call :func:`get_settings` where settings are needed. Every variable
is listed in `.env.example`.
"""

from __future__ import annotations

import getpass
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
    sentiment_runtime: str | None  # torch / onnx-int8; None: ml/sentiment/config.yaml decides

    @property
    def ingest_mapping(self) -> Path | None:
        """A mapping file for exports shaped differently from the contract (see rapport.mapping); none by default."""
        value = os.environ.get("RAPPORT_INGEST_MAPPING")
        return Path(value).expanduser().resolve() if value else None

    @property
    def ingest_memory_limit(self) -> str:
        """DuckDB's memory limit while ingesting (a DuckDB size, e.g. ``4GB``): beyond it DuckDB spills to disk."""
        return os.environ.get("RAPPORT_INGEST_MEMORY_LIMIT", "4GB")

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

    @property
    def warehouse_lock_timeout_seconds(self) -> float:
        """How long a stage waits for another process's hold on the warehouse before it gives up."""
        return float(os.environ.get("RAPPORT_WAREHOUSE_LOCK_TIMEOUT", "1800"))

    @property
    def tuning_trials(self) -> int | None:
        """Optuna trials per churn training (None: ``tuning.n_trials`` in ml/churn/config.yaml decides)."""
        value = os.environ.get("RAPPORT_TUNING_TRIALS", "")
        return int(value) if value else None

    @property
    def serving_url(self) -> str:
        """Postgres the BI tables are also published to (empty: the DuckDB serving copy only)."""
        return os.environ.get("RAPPORT_SERVING_URL", "")

    @property
    def bi_role(self) -> str:
        """The read-only Postgres role BI tools log in as."""
        return os.environ.get("RAPPORT_BI_ROLE", "rapport_bi")

    @property
    def bi_password(self) -> str:
        """Password given to the BI role (empty: the role's password is left as it is)."""
        return os.environ.get("RAPPORT_BI_PASSWORD", "")

    @property
    def retention_config(self) -> Path:
        return _env_path("RAPPORT_RETENTION_CONFIG", self.project_root / "config" / "retention.yaml")

    @property
    def actor(self) -> str:
        """Who the audit log records as having acted (the OS user unless an orchestrator names one)."""
        return os.environ.get("RAPPORT_ACTOR") or getpass.getuser()

    @property
    def alert_webhook(self) -> str:
        """URL that failed Airflow tasks post a JSON alert to (empty: alerts only go to the task log)."""
        return os.environ.get("RAPPORT_ALERT_WEBHOOK", "")

    @property
    def alert_timeout_seconds(self) -> float:
        return float(os.environ.get("RAPPORT_ALERT_TIMEOUT_SECONDS", "5"))

    @property
    def task_retries(self) -> int:
        return int(os.environ.get("RAPPORT_TASK_RETRIES", "2"))

    @property
    def retry_delay_seconds(self) -> int:
        """First retry delay of an Airflow task; each later retry waits twice as long (exponential backoff)."""
        return int(os.environ.get("RAPPORT_RETRY_DELAY_SECONDS", "30"))

    @property
    def retrain_after_days(self) -> int:
        """Age of the @champion after which a scheduled training run retrains (force_retrain overrides)."""
        return int(os.environ.get("RAPPORT_RETRAIN_AFTER_DAYS", "7"))

    @property
    def dbt_tasks(self) -> str:
        """How Airflow runs dbt: ``build`` (one `dbt build` task) or ``models`` (one task per model, cosmos)."""
        value = os.environ.get("RAPPORT_DBT_TASKS", "build").strip().lower()
        if value not in ("build", "models"):
            raise ValueError(f"RAPPORT_DBT_TASKS must be 'build' or 'models', not {value!r}")
        return value

    @property
    def dbt_manifest_path(self) -> Path:
        """The dbt manifest the per-model task group is rendered from (written by `rapport dbt-manifest`)."""
        return _env_path("RAPPORT_DBT_MANIFEST", self.home / "dbt" / "target" / "manifest.json")


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
        sentiment_runtime=os.environ.get("RAPPORT_SENTIMENT_RUNTIME") or None,
    )


def parse_date(value: str | date) -> date:
    """Parse an ISO date (YYYY-MM-DD) given on a command line or by Airflow."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {value!r}") from exc
