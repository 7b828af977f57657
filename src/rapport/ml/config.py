"""Model configuration: ``ml/<model>/config.yaml`` holds features, hyperparameters, thresholds and promotion rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rapport.settings import get_settings

REQUIRED_KEYS = ("model_name", "experiment", "features", "xgboost", "promotion")


def model_config_path(model: str) -> Path:
    """Where the config of ``model`` (``churn``, ``nbo``, ...) lives."""
    return get_settings().ml_config_dir / model / "config.yaml"


def load_model_config(model: str, path: str | Path | None = None) -> dict[str, Any]:
    """Read and check the config of ``model``; raise with the file's path when it is missing or incomplete."""
    path = Path(path) if path else model_config_path(model)
    if not path.exists():
        raise FileNotFoundError(f"no config for model {model!r}: expected {path}")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a mapping, got {type(config).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    features = config["features"]
    if not isinstance(features, list) or not features or len(set(features)) != len(features):
        raise ValueError(f"{path}: 'features' must be a non-empty list of distinct column names")
    if "metric" not in config["promotion"]:
        raise ValueError(f"{path}: 'promotion' must name a metric")
    return config
