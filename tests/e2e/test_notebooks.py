"""Notebooks are executed on the e2e run's outputs so they never rot."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))
# What each notebook prints once it has looked at real outputs (its own asserts guard the content).
LAST_LINE = {
    "01_explore_customer_360.py": "published tables",
    "02_compare_model_runs.py": "compared model runs",
    "03_sentiment_error_analysis.py": "analysed sentiment errors",
}


def test_every_notebook_is_known():
    assert sorted(LAST_LINE) == [n.name for n in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs_on_the_pipeline_outputs(pipeline_run, notebook, capsys, monkeypatch):
    monkeypatch.setenv("RAPPORT_NOTEBOOK_SAMPLE", "120")
    runpy.run_path(str(notebook), run_name="__main__")
    assert LAST_LINE[notebook.name] in capsys.readouterr().out
