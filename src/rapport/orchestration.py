"""Import-light helpers shared by the DAG files and the CLI: Airflow environment, Asset names.

Nothing here imports Airflow, pandas or any ML library, so DAG files can import it at parse time.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from rapport.settings import Settings, get_settings

DAG_ID = "rapport_pipeline"
WAREHOUSE_ASSET_URI = "file://rapport/warehouse/marts"
SCORES_ASSET_URI = "file://rapport/warehouse/ml"

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "MLFLOW_ENABLE_TELEMETRY": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def airflow_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment that points an in-process Airflow at Rapport's DAGs and a metadata DB in ``var/airflow``.

    Values already set by the user (e.g. a Postgres metadata DB) win over these defaults.
    """
    settings = settings or get_settings()
    home = settings.airflow_home
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        **TELEMETRY_OFF,
    }
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


def apply_environment(env: dict[str, str]) -> None:
    """Export ``env`` into this process (before Airflow, dbt, GX or MLflow are imported)."""
    os.environ.update(env)


def as_of_from_context(params: dict, logical_date: datetime | None) -> date:
    """The run's as-of date: the ``as_of`` param of a manual run, else the run's logical date."""
    value = params.get("as_of") if params else None
    if value:
        return date.fromisoformat(str(value)[:10])
    if logical_date is None:
        return datetime.now(UTC).date()
    return logical_date.date()
