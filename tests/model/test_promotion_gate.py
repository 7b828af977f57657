"""The promotion rule on the metrics a training run logs: margin, calibration tolerance, slice floor."""

from __future__ import annotations

import pytest

from rapport.ml.config import load_model_config
from rapport.ml.registry import CHAMPION_PREFIX, SLICE_AUC_PREFIX, SLICE_ROWS_PREFIX, comparison_failures

PROMOTION = load_model_config("churn")["promotion"]
SLICE = "rfm_segment.at_risk"


def run_metrics(*, auc=0.80, brier=0.15, ece=0.02, slice_auc=0.75, slice_rows=400, champion_auc=0.78,
                champion_brier=0.15, champion_ece=0.02, champion_slice_auc=0.75) -> dict[str, float]:  # fmt: skip
    """What a churn training run logs: its own holdout metrics and the champion's on the same holdout."""
    return {
        "val_roc_auc": auc,
        "val_brier": brier,
        "val_ece": ece,
        f"{SLICE_AUC_PREFIX}{SLICE}": slice_auc,
        f"{SLICE_ROWS_PREFIX}{SLICE}": slice_rows,
        f"{CHAMPION_PREFIX}val_roc_auc": champion_auc,
        f"{CHAMPION_PREFIX}val_brier": champion_brier,
        f"{CHAMPION_PREFIX}val_ece": champion_ece,
        f"{CHAMPION_PREFIX}{SLICE_AUC_PREFIX}{SLICE}": champion_slice_auc,
    }


def failures(**kwargs) -> list[str]:
    return comparison_failures(run_metrics(**kwargs), CHAMPION_PREFIX, PROMOTION, float(PROMOTION["margin"]))


def test_a_better_challenger_passes_every_check():
    assert failures() == []


def test_a_gain_within_the_margin_is_refused():
    reasons = failures(auc=0.78 + PROMOTION["margin"] / 2)
    assert len(reasons) == 1 and "margin" in reasons[0]


@pytest.mark.parametrize(
    ("worse", "named"),
    [({"brier": 0.15 + 2 * PROMOTION["calibration_tolerance"]["brier"]}, "val_brier"),
     ({"ece": 0.02 + 2 * PROMOTION["calibration_tolerance"]["ece"]}, "val_ece")],
)  # fmt: skip
def test_a_worse_calibrated_challenger_is_refused_despite_a_better_auc(worse, named):
    reasons = failures(**worse)
    assert len(reasons) == 1 and reasons[0].startswith(named)


def test_a_challenger_losing_a_large_slice_is_refused_and_the_slice_named():
    drop = PROMOTION["slices"]["max_auc_drop"] * 2
    reasons = failures(slice_auc=0.75 - drop)
    assert len(reasons) == 1 and SLICE in reasons[0]


def test_a_small_slice_does_not_decide():
    drop = PROMOTION["slices"]["max_auc_drop"] * 2
    assert failures(slice_auc=0.75 - drop, slice_rows=PROMOTION["slices"]["min_rows"] - 1) == []


def test_checks_whose_metrics_were_not_logged_are_not_applied():
    metrics = {"val_roc_auc": 0.9, f"{CHAMPION_PREFIX}val_roc_auc": 0.8}
    assert comparison_failures(metrics, CHAMPION_PREFIX, PROMOTION, 0.005) == []
    assert comparison_failures({"val_roc_auc": 0.9}, CHAMPION_PREFIX, PROMOTION, 0.005)  # no reference: refused
