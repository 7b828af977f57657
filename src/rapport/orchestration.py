"""Import-light helpers shared by the DAG files and the CLI: Airflow environment, DAG ids, Assets, task defaults.

Nothing here imports Airflow, pandas or any ML library, so DAG files can import it at parse time.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rapport.settings import Settings, get_settings

log = logging.getLogger("rapport.alerts")

# The all-in-one DAG (`rapport run --airflow`, `rapport demo`): every stage in one run, triggered by hand.
DAG_ID = "rapport_pipeline"
# The production DAGs, chained by Assets: ingest -> transform -> score -> report; train weekly and on demand.
INGEST_DAG_ID = "rapport_ingest"
TRANSFORM_DAG_ID = "rapport_transform"
TRAIN_DAG_ID = "rapport_train"
SCORE_DAG_ID = "rapport_score"
REPORT_DAG_ID = "rapport_report"
CHAINED_DAG_IDS = (INGEST_DAG_ID, TRANSFORM_DAG_ID, TRAIN_DAG_ID, SCORE_DAG_ID, REPORT_DAG_ID)

RAW_ASSET_URI = "file://rapport/warehouse/raw"
WAREHOUSE_ASSET_URI = "file://rapport/warehouse/marts"
SCORES_ASSET_URI = "file://rapport/warehouse/ml"
CHAMPIONS_ASSET_URI = "file://rapport/mlflow/champions"

# DuckDB allows one writer: every task that writes the warehouse takes this pool's only slot.
WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_SLOTS = 1
WAREHOUSE_POOL_DESCRIPTION = "DuckDB warehouse: one writer at a time"

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


def as_of_from_context(
    params: dict, logical_date: datetime | None, triggering_events: Mapping[Any, Iterable[Any]] | None = None
) -> date:
    """The run's as-of date: the ``as_of`` param of a manual run, else the as-of the triggering asset events
    carry (asset-triggered runs have no logical date), else the run's logical date, else today (UTC)."""
    value = params.get("as_of") if params else None
    if value:
        return date.fromisoformat(str(value)[:10])
    from_events = as_of_from_events(triggering_events)
    if from_events is not None:
        return from_events
    if logical_date is None:
        return datetime.now(UTC).date()
    return logical_date.date()


def as_of_from_events(events: Mapping[Any, Iterable[Any]] | None) -> date | None:
    """The newest ``as_of`` carried in the ``extra`` of the asset events that triggered a run, if any."""
    dates = [
        date.fromisoformat(str(event.extra["as_of"])[:10])
        for batch in (events or {}).values()
        for event in batch
        if (getattr(event, "extra", None) or {}).get("as_of")
    ]
    return max(dates) if dates else None


def task_defaults(settings: Settings | None = None) -> dict[str, Any]:
    """``default_args`` of every Rapport DAG: retries with exponential backoff and the failure alert."""
    settings = settings or get_settings()
    return {
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": alert_on_failure,
    }


def failure_alert(context: Mapping[str, Any]) -> dict[str, Any]:
    """The alert for a failed task: which DAG, task, run and try, as of when, and the error."""
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    params = context.get("params") or {}
    return {
        "event": "rapport_task_failed",
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "as_of": params.get("as_of"),
        "logical_date": str(context.get("logical_date")) if context.get("logical_date") else None,
        "error": f"{type(exception).__name__}: {exception}" if exception else None,
        "log_url": getattr(ti, "log_url", None),
    }


def alert_on_failure(context: Mapping[str, Any]) -> None:
    """Task failure callback: log a clear alert, then post it to ``RAPPORT_ALERT_WEBHOOK`` when one is set.

    A callback that raises would hide the task's own error, so a failing webhook is only logged.
    """
    alert = failure_alert(context)
    log.error(
        "ALERT task %s.%s failed (run %s, try %s, as of %s): %s",
        alert["dag_id"],
        alert["task_id"],
        alert["run_id"],
        alert["try_number"],
        alert["as_of"] or alert["logical_date"],
        alert["error"],
    )
    settings = get_settings()
    if settings.alert_webhook:
        post_alert(settings.alert_webhook, alert, settings.alert_timeout_seconds)


def post_alert(url: str, alert: Mapping[str, Any], timeout: float) -> bool:
    """POST ``alert`` as JSON to ``url``; True when the endpoint answered 2xx, never raises."""
    body = json.dumps(alert, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the operator's own URL)
            return 200 <= response.status < 300
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the callback
        log.warning("could not post the failure alert to the webhook: %s: %s", type(exc).__name__, exc)
        return False
