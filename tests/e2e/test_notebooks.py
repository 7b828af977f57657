"""Notebooks are executed on the e2e run's outputs so they never rot."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs_on_the_pipeline_outputs(pipeline_run, notebook, capsys):
    runpy.run_path(str(notebook), run_name="__main__")
    assert "published tables" in capsys.readouterr().out
