"""MLflow helpers shared by every model: tracking setup, experiments, the champion alias and its gate."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rapport.settings import get_settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

CHAMPION_ALIAS = "champion"


def configure_mlflow() -> None:
    """Point MLflow tracking and registry at the settings' URI, with telemetry off."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def get_or_create_experiment(name: str) -> str:
    """Id of the experiment ``name``, created with its artifacts under the settings' mlartifacts folder."""
    import mlflow

    configure_mlflow()
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = get_settings().mlartifacts_dir / name.replace("/", "_")
    location.mkdir(parents=True, exist_ok=True)
    return mlflow.create_experiment(name, artifact_location=location.as_uri())


def champion_version(model_name: str) -> ModelVersion | None:
    """The model version carrying the champion alias, or None when there is none (or no such model)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure_mlflow()
    try:
        return MlflowClient().get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _run_metric(client, version: ModelVersion, metric: str) -> float:
    if not version.run_id:
        raise ValueError(f"{version.name} version {version.version} has no source run to read {metric!r} from")
    metrics = client.get_run(version.run_id).data.metrics
    if metric not in metrics:
        raise KeyError(f"run {version.run_id} of {version.name} version {version.version} has no metric {metric!r}")
    return float(metrics[metric])


def _beats(value: float, reference: float, higher_is_better: bool, margin: float) -> bool:
    return value > reference + margin if higher_is_better else value < reference - margin


def promote_if_better(
    model_name: str,
    version: str | int,
    metric: str,
    higher_is_better: bool = True,
    margin: float = 0.0,
    baseline_value: float | None = None,
) -> dict:
    """Give ``version`` the champion alias only if its run's ``metric`` beats the champion's by ``margin``.

    With no champion yet, the challenger must beat ``baseline_value`` (the margin applies to champions
    only), or is promoted when no baseline is given. The decision and its reason are recorded as tags on the version.
    """
    from mlflow import MlflowClient

    configure_mlflow()
    client = MlflowClient()
    version = str(version)
    challenger = client.get_model_version(model_name, version)
    value = _run_metric(client, challenger, metric)
    champion = champion_version(model_name)
    direction = "higher" if higher_is_better else "lower"
    decision: dict = {
        "model_name": model_name,
        "version": version,
        "metric": metric,
        "value": value,
        "champion_version": str(champion.version) if champion else None,
        "reference": None,
    }
    if champion is not None and str(champion.version) == version:
        promoted, reason = False, f"version {version} is already the champion"
        decision["reference"] = value
    elif champion is not None:
        reference = _run_metric(client, champion, metric)
        decision["reference"] = reference
        promoted = _beats(value, reference, higher_is_better, margin)
        verdict = "beats" if promoted else "does not beat"
        reason = (
            f"{metric}={value:.4f} {verdict} champion version {champion.version} ({reference:.4f}) "
            f"by the margin {margin} ({direction} is better)"
        )
    elif baseline_value is not None:
        decision["reference"] = float(baseline_value)
        promoted = _beats(value, float(baseline_value), higher_is_better, 0.0)
        verdict = "beats" if promoted else "does not beat"
        reason = f"no champion yet; {metric}={value:.4f} {verdict} the baseline ({float(baseline_value):.4f}) ({direction} is better)"
    else:
        promoted, reason = True, "no champion yet and no baseline given: the first version becomes champion"
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    tags = {
        "promotion_decision": "promoted" if promoted else "rejected",
        "promotion_reason": reason,
        "promotion_metric": metric,
        "promotion_value": f"{value:.6g}",
        "promotion_reference": "" if decision["reference"] is None else f"{decision['reference']:.6g}",
        "promotion_decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, tag_value in tags.items():
        client.set_model_version_tag(model_name, version, key, tag_value)
    return {**decision, "promoted": promoted, "reason": reason}
