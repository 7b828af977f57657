"""Settings come from env vars with safe defaults, documented in .env.example, with no import-time effects."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from rapport.settings import get_settings, parse_date

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_read_by_the_code_is_listed_in_env_example():
    read = set()
    for path in (ROOT / "src" / "rapport").rglob("*.py"):
        read |= set(re.findall(r"""_?env(?:iron\.get|_path)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", path.read_text()))
    for path in (ROOT / "dbt_project").rglob("*.yml"):
        read |= set(re.findall(r"env_var\(\s*'([A-Z][A-Z0-9_]+)'", path.read_text()))
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "found no settings in the code"
    assert read - listed == set()


def test_rapport_home_moves_all_state(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    for name in ("RAPPORT_WAREHOUSE", "RAPPORT_LANDING_DIR", "RAPPORT_SERVING_PATH", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert not any(tmp_path.iterdir()), "reading settings must not create anything"


def test_parse_date_names_the_bad_value():
    assert parse_date("2026-11-01") == date(2026, 11, 1)
    with pytest.raises(ValueError, match="'11/01/2026'"):
        parse_date("11/01/2026")
