"""A model the promotion gate has never accepted is not scored: the run goes on, and its score gate warns."""

from __future__ import annotations

from datetime import date

import pytest

AS_OF = date(2026, 11, 1)


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from rapport import warehouse

    warehouse.connect().close()
    return tmp_path


def test_scoring_a_model_without_champion_is_skipped_with_its_reason(empty_home):
    from rapport import pipeline, warehouse

    result = pipeline.score("nbo", AS_OF, "run-1")
    assert result["rows"] == 0 and "rapport-nbo has no @champion" in result["skipped"]
    con = warehouse.connect(read_only=True)
    try:
        assert con.execute("select count(*) from ml.offer_recommendations").fetchone()[0] == 0
    finally:
        con.close()
    assert "skipped" in pipeline.export_campaigns(AS_OF)


def test_the_empty_partition_of_a_model_without_champion_only_warns(empty_home):
    from rapport.quality import run_gate

    result = run_gate("offer_recommendations", as_of=AS_OF, run_id="run-1")
    assert result.success and not result.failed
    assert [w["table"] for w in result.warnings] == ["ml.offer_recommendations"]
