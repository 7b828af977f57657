"""Data tests on the shared pipeline run: nothing lost between landing and raw, no personal data in clear."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rapport.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PII_COLUMNS = ("email", "phone", "first_name", "last_name", "street_address")


def landing_rows(table: str) -> list[dict]:
    rows = []
    for path in sorted((get_settings().landing_dir / table).glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


@pytest.fixture(scope="module")
def clear_pii(pipeline_run) -> set[str]:
    """Every email and phone number the simulator wrote in clear, plus full names."""
    values = set()
    for row in landing_rows("customers"):
        values |= {row["email"], row["phone"], row["street_address"]}
        values.add(f"{row['first_name']} {row['last_name']}")
    for row in landing_rows("call_center_contacts"):
        values.add(row["phone"])
    values.discard("")
    assert len(values) > 500
    return values


def test_every_landing_row_is_in_raw_or_quarantine_or_was_erased_on_request(pipeline_run, warehouse_con):
    """Nothing is lost: each row the simulator wrote is loaded, quarantined with its reason, or was erased
    because its customer asked to be deleted (the audit log counts those per table, without personal data)."""
    erasures = [
        json.loads(c)
        for (c,) in warehouse_con.execute("select counts from ops.audit_log where action = 'erasure'").fetchall()
    ]
    assert erasures, "the simulated deletion requests were not honoured"
    for table, written in pipeline_run["generated"]["rows"].items():
        loaded = warehouse_con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        quarantined = warehouse_con.execute(f"select count(*) from quarantine.{table}").fetchone()[0]
        erased = sum(c.get(f"raw.{table}", 0) + c.get(f"quarantine.{table}", 0) for c in erasures)
        assert loaded + quarantined + erased == written, (table, loaded, quarantined, erased, written)


def test_no_table_holds_personal_data_in_clear(clear_pii, warehouse_con):
    columns = warehouse_con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR' and table_schema not in ('information_schema', 'pg_catalog')"
    ).fetchall()
    assert len(columns) > 50
    warehouse_con.register("clear_pii", __import__("pandas").DataFrame({"value": sorted(clear_pii)}))
    leaks = []
    for schema, table, column in columns:
        found = warehouse_con.execute(
            f'select count(*) from "{schema}"."{table}" where "{column}" in (select value from clear_pii)'
        ).fetchone()[0]
        if found:
            leaks.append(f"{schema}.{table}.{column}: {found}")
    assert leaks == []


def _files_under(*folders: Path):
    for folder in folders:
        if folder.exists():
            yield from (p for p in folder.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000)


def test_no_artifact_report_or_log_holds_personal_data_in_clear(clear_pii, pipeline_run):
    settings = get_settings()
    emails = sorted(v for v in clear_pii if "@" in v)
    phones = sorted(v for v in clear_pii if v.startswith("+"))
    needles = [v.encode() for v in emails[:300] + phones[:300]]
    scanned = 0
    leaks = []
    for path in _files_under(
        settings.mlartifacts_dir,
        settings.reports_dir,
        settings.airflow_home / "logs",
        settings.quality_dir,
        settings.serving_path.parent,
    ):
        data = path.read_bytes()
        scanned += 1
        hit = next((n for n in needles if n in data), None)
        if hit:
            leaks.append(f"{path}: {hit.decode()}")
    assert scanned > 10
    assert leaks == []
