"""The committed dbt sources file is generated from the contract, and the dbt wrapper's pure parts."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from rapport.contract import TABLES
from rapport.scores import SCORE_TABLES
from rapport.settings import get_settings
from rapport.transform import (
    LOAD_METADATA_COLUMNS,
    SCORE_SOURCE_TABLES,
    SOURCE_ENTITIES,
    dbt_vars,
    render_sources_yml,
    sources_yml_path,
    staging_model_name,
)


def test_committed_sources_yml_equals_generated():
    committed = sources_yml_path().read_text(encoding="utf-8")
    assert committed == render_sources_yml(), "run rapport.transform.write_sources_yml() and commit the result"


def raw_sources() -> list[dict]:
    return [s for s in yaml.safe_load(render_sources_yml())["sources"] if s["name"] != "ml"]


def test_sources_cover_every_raw_column_of_the_contract():
    sources = raw_sources()
    tables = {t["identifier"]: t for source in sources for t in source["tables"]}
    assert set(tables) == {t.name for t in TABLES}
    for table in TABLES:
        names = [c["name"] for c in tables[table.name]["columns"]]
        assert names == [c.raw_name for c in table.raw_columns] + [n for n, _, _ in LOAD_METADATA_COLUMNS]
        assert not any(c.name in names for c in table.columns if c.pii == "drop")
    for source in sources:
        assert source["schema"] == "raw"
        assert source["config"]["loaded_at_field"] == "_loaded_at"
        assert "freshness" in source["config"]


def test_every_contract_table_has_a_staging_model():
    staging = get_settings().dbt_project_dir / "models" / "staging"
    for table in TABLES:
        assert (staging / f"{staging_model_name(table.name)}.sql").is_file(), table.name
    assert len({staging_model_name(t) for t in SOURCE_ENTITIES}) == len(SOURCE_ENTITIES)


def test_dbt_vars_default_cutoff_is_the_as_of_date(monkeypatch):
    monkeypatch.setenv("RAPPORT_CHURN_HORIZON_DAYS", "60")
    variables = dbt_vars(date(2026, 11, 1))
    assert variables == {
        "as_of_date": "2026-11-01",
        "feature_cutoffs": ["2026-11-01"],
        "churn_horizon_days": 60,
        "nbo_response_window_days": 30,  # ml/nbo/config.yaml
    }
    cutoffs = dbt_vars(date(2026, 11, 1), [date(2026, 6, 1), date(2026, 3, 1), date(2026, 6, 1)])["feature_cutoffs"]
    assert cutoffs == ["2026-03-01", "2026-06-01"]


def test_dbt_vars_reject_cutoffs_after_the_as_of_date():
    with pytest.raises(ValueError, match="after the as-of date"):
        dbt_vars(date(2026, 11, 1), [date(2026, 12, 1)])


def test_score_source_declares_the_score_tables_the_marts_read():
    (ml,) = [s for s in yaml.safe_load(render_sources_yml())["sources"] if s["name"] == "ml"]
    assert ml["schema"] == "ml" and "freshness" not in ml.get("config", {})
    assert [f"ml.{t['name']}" for t in ml["tables"]] == list(SCORE_SOURCE_TABLES)
    assert set(SCORE_SOURCE_TABLES) <= set(SCORE_TABLES)
    staging = get_settings().dbt_project_dir / "models" / "staging"
    for table in ml["tables"]:
        assert (staging / f"stg_ml__{table['name']}.sql").is_file(), table["name"]
        assert "model_version" in table["description"]


def test_selectors_split_core_from_the_score_marts():
    selectors = yaml.safe_load((get_settings().dbt_project_dir / "selectors.yml").read_text())["selectors"]
    by_name = {s["name"]: s["definition"] for s in selectors}
    assert by_name["score_marts"] == {
        "method": "source",
        "value": "ml",
        "children": True,
        "indirect_selection": "buildable",
    }
    assert {"exclude": [{"method": "source", "value": "ml", "children": True}]} in by_name["core"]["union"]
