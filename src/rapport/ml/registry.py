"""MLflow helpers shared by every model: tracking setup, experiments, the champion alias and its gate.

The gate (``promote_model``) is one rule for every model: a challenger must beat its own baseline on
its holdout, then the champion by the configured margin. When training scored the current champion on
the challenger's own out-of-time holdout (metrics ``champion_*``, tag ``compared_champion_version``),
the comparison uses those numbers, and the config may add calibration tolerances and a per-slice AUC
floor; otherwise it falls back to the champion run's own metric.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rapport.settings import get_settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

CHAMPION_ALIAS = "champion"
BASELINE_PREFIX = "baseline_"
CHAMPION_PREFIX = "champion_"
SLICE_AUC_PREFIX = "slice_val_roc_auc."  # + <dimension>.<value>: the challenger's ROC AUC on one holdout slice
SLICE_ROWS_PREFIX = "slice_rows."  # + <dimension>.<value>: holdout rows in that slice
COMPARED_CHAMPION_TAG = "compared_champion_version"  # the champion scored on the challenger's holdout


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


def log_datasets(datasets: dict) -> None:
    """Log MLflow datasets to the active run, each under its context (``training``, ``holdout``)."""
    import mlflow

    for context, dataset in datasets.items():
        mlflow.log_input(dataset, context=context)


@contextmanager
def training_parent_run(config: dict, model: str, as_of, frames: dict, target: str, tags: dict) -> Iterator[tuple]:
    """The parent MLflow run of one training call, holding ``tags`` and ``frames`` as MLflow datasets.

    Yields ``(parent_run, datasets)``; nested runs (trials, baselines, the model) log the same datasets,
    so every run names the data it was judged on.
    """
    import mlflow
    import mlflow.data

    configure_mlflow()
    experiment_id = get_or_create_experiment(config["experiment"])
    # Nested runs and logged models follow the active experiment, not the parent run's: without this, MLflow 3
    # files the model under the Default experiment, whose artifact root is ./mlruns in the working directory.
    mlflow.set_experiment(experiment_id=experiment_id)
    datasets = {
        context: mlflow.data.from_pandas(frame, name=f"{model}_{context}_{as_of.isoformat()}", targets=target)
        for context, frame in frames.items()
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{model}-{as_of.isoformat()}") as parent:
        mlflow.set_tags(tags)
        log_datasets(datasets)
        yield parent, datasets


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
    _record_decision(client, decision, promoted, reason)
    return {**decision, "promoted": promoted, "reason": reason}


def _record_decision(client, decision: dict, promoted: bool, reason: str) -> None:
    """Move the alias when promoted, and tag the version with the decision and its reason either way."""
    name, version = decision["model_name"], decision["version"]
    if promoted:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    value, reference = decision.get("value"), decision.get("reference")
    tags = {
        "promotion_decision": "promoted" if promoted else "rejected",
        "promotion_reason": reason,
        "promotion_metric": decision["metric"],
        "promotion_value": "" if value is None else f"{value:.6g}",
        "promotion_reference": "" if reference is None else f"{reference:.6g}",
        "promotion_decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for key, tag_value in tags.items():
        client.set_model_version_tag(name, version, key, tag_value)


def latest_version(model_name: str) -> str:
    """The newest registered version of ``model_name``."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise LookupError(f"registered model {model_name!r} has no versions: train it first")
    return str(max(int(v.version) for v in versions))


def comparison_failures(metrics: dict[str, float], prefix: str, promotion: dict, margin: float) -> list[str]:
    """Why a challenger's run ``metrics`` lose to the reference logged beside them under ``prefix``.

    Checks the promotion metric (by ``margin``), then, where the config sets them, calibration
    (``calibration_tolerance``: the challenger's Brier / ECE may be worse by at most that much) and
    slices (``slices``: on any slice with at least ``min_rows`` holdout rows, the challenger may lose at
    most ``max_auc_drop`` of ROC AUC). A check whose metrics were not logged is not applied.
    """
    metric = promotion["metric"]
    higher_is_better = bool(promotion.get("higher_is_better", True))
    failures = []
    value, reference = metrics.get(metric), metrics.get(f"{prefix}{metric}")
    if value is None or reference is None or not _beats(value, reference, higher_is_better, margin):
        failures.append(f"{metric}={value} does not beat {prefix.rstrip('_')} {reference} by the margin {margin}")
    for name, tolerance in (promotion.get("calibration_tolerance") or {}).items():
        value, reference = metrics.get(f"val_{name}"), metrics.get(f"{prefix}val_{name}")
        if value is not None and reference is not None and value > reference + float(tolerance):
            failures.append(f"val_{name}={value:.4f} is worse than {prefix.rstrip('_')} {reference:.4f} + {tolerance}")
    slices = promotion.get("slices") or {}
    for key, value in sorted(metrics.items()):
        if not (slices and key.startswith(SLICE_AUC_PREFIX)):
            continue
        label = key.removeprefix(SLICE_AUC_PREFIX)
        reference = metrics.get(f"{prefix}{key}")
        rows = metrics.get(f"{SLICE_ROWS_PREFIX}{label}", 0)
        if reference is None or rows < int(slices.get("min_rows", 100)):
            continue
        if reference - value > float(slices.get("max_auc_drop", 0.02)):
            failures.append(
                f"slice {label} ({rows:.0f} rows): ROC AUC {value:.4f} vs {prefix.rstrip('_')} {reference:.4f}"
            )
    return failures


def promote_model(config: dict, version: str | None = None) -> dict:
    """Promotion gate: ``version`` (default the newest) becomes ``@champion`` only if it beats its own
    baseline on its holdout, then the champion found by alias (on the same holdout where training scored
    it there) by the config's margin, within its calibration and slice tolerances."""
    from mlflow import MlflowClient

    configure_mlflow()
    name, promotion = config["model_name"], config["promotion"]
    metric = promotion["metric"]
    version = str(version) if version is not None else latest_version(name)
    client = MlflowClient()
    run = client.get_run(client.get_model_version(name, version).run_id)
    metrics, tags = run.data.metrics, run.data.tags
    baseline_value = metrics.get(f"{BASELINE_PREFIX}{metric}")
    if baseline_value is None:
        raise ValueError(f"{name} version {version} has no {BASELINE_PREFIX}{metric}: cannot gate it")
    decision = {"model_name": name, "version": version, "metric": metric, "value": metrics.get(metric)}
    champion = champion_version(name)
    decision["champion_version"] = str(champion.version) if champion else None
    if champion is not None and str(champion.version) == version:
        return promote_if_better(name, version, metric)  # records "already the champion"
    # Against a baseline, calibration is judged by Brier (a proper score) only: a near-random rule can be
    # perfectly "calibrated" (ECE ~ 0) while useless, so ECE is compared with champions, not baselines.
    tolerances = {k: v for k, v in (promotion.get("calibration_tolerance") or {}).items() if k != "ece"}
    failures = comparison_failures(
        metrics, BASELINE_PREFIX, {**promotion, "slices": None, "calibration_tolerance": tolerances}, 0.0
    )
    if failures:
        reason = "does not beat its own baseline on the same holdout: " + "; ".join(failures)
        decision["reference"] = baseline_value
        _record_decision(client, decision, False, reason)
        return {**decision, "promoted": False, "reason": reason}
    if champion is not None and tags.get(COMPARED_CHAMPION_TAG) == str(champion.version):
        failures = comparison_failures(metrics, CHAMPION_PREFIX, promotion, float(promotion.get("margin", 0.0)))
        decision["reference"] = metrics.get(f"{CHAMPION_PREFIX}{metric}")
        promoted = not failures
        reason = (
            f"beats champion version {champion.version} on the same out-of-time holdout"
            if promoted
            else f"refused against champion version {champion.version} on the same holdout: " + "; ".join(failures)
        )
        _record_decision(client, decision, promoted, reason)
        return {**decision, "promoted": promoted, "reason": reason}
    return promote_if_better(
        name,
        version,
        metric,
        higher_is_better=bool(promotion.get("higher_is_better", True)),
        margin=float(promotion.get("margin", 0.0)),
        baseline_value=baseline_value,
    )
