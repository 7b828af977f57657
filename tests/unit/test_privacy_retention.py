"""Retention: rows and files past their time to live go, younger ones stay, and the audit log says what went."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from rapport import warehouse
from rapport.contract import get_table
from rapport.trust.retention import apply_retention as expire
from rapport.trust.retention import load_policy

AS_OF = date(2026, 11, 1)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    rules = tmp_path / "retention.yaml"
    rules.write_text(
        "tables:\n"
        "  raw.web_events: {column: occurred_at, days: 365}\n"
        "  quarantine.*: {column: _loaded_at, days: 30}\n"
        "files:\n"
        "  exports: 90\n"
    )
    monkeypatch.setenv("RAPPORT_RETENTION_CONFIG", str(rules))
    con = warehouse.connect()
    try:
        con.execute("create table raw.web_events (event_id varchar, occurred_at timestamp)")
        con.execute(
            "insert into raw.web_events values ('old', timestamp '2025-10-31 23:00:00'), "
            "('edge', timestamp '2025-11-01 00:00:00'), ('new', timestamp '2026-10-31 08:00:00')"
        )
        con.execute("create table quarantine.orders (order_id varchar, _loaded_at timestamp)")
        con.execute(
            "insert into quarantine.orders values ('q-old', timestamp '2026-09-01'), ('q-new', timestamp '2026-10-20')"
        )
        con.execute("create table quarantine.legacy (order_id varchar)")  # matched by the pattern, has no such column
    finally:
        con.close()
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "campaign_2026-07-01.csv").write_text("x")
    (exports / "campaign_2026-10-01.csv").write_text("x")
    return tmp_path


def test_rows_and_files_past_their_time_to_live_are_deleted_and_audited(home):
    result = expire(AS_OF)

    con = warehouse.connect()
    try:
        events = sorted(r[0] for r in con.execute("select event_id from raw.web_events").fetchall())
        quarantined = con.execute("select order_id from quarantine.orders").fetchall()
        action, counts, as_of = con.execute("select action, counts, as_of_date from ops.audit_log").fetchone()
    finally:
        con.close()
    assert events == ["edge", "new"]
    assert quarantined == [("q-new",)]
    assert sorted(p.name for p in (home / "exports").iterdir()) == ["campaign_2026-10-01.csv"]
    assert result["skipped"] == ["quarantine.legacy (no _loaded_at)"]
    assert (action, as_of) == ("retention", AS_OF)
    assert json.loads(counts) == {"raw.web_events": 1, "quarantine.orders": 1, "files:exports": 1}


def test_the_same_day_twice_deletes_nothing_more(home):
    expire(AS_OF)
    again = expire(AS_OF)
    assert again["rows_deleted"] == {} and again["files_deleted"] == {}


def test_a_backfill_for_an_earlier_day_keeps_what_that_day_needs(home):
    result = expire(date(2026, 1, 1))
    assert result["rows_deleted"] == {}


def test_a_named_table_without_the_column_is_an_error_naming_file_and_table(home):
    rules = home / "retention.yaml"
    rules.write_text("tables:\n  raw.web_events: {column: happened_at, days: 10}\n")
    with pytest.raises(
        ValueError, match=rf"{rules}: tables.raw.web_events: raw.web_events has no column 'happened_at'"
    ):
        expire(AS_OF)
    con = warehouse.connect()
    try:
        assert con.execute("select count(*) from raw.web_events").fetchone() == (3,)
    finally:
        con.close()


@pytest.mark.parametrize(
    "bad", ["tables:\n  raw.x: {days: 3}\n", "tables:\n  raw.x: {column: a, days: -1}\n", "keep: 1\n"]
)
def test_malformed_rules_are_refused_with_the_file_name(tmp_path, bad):
    path = tmp_path / "retention.yaml"
    path.write_text(bad)
    with pytest.raises(ValueError, match=str(path)):
        load_policy(path)


def test_the_shipped_rules_name_real_columns_of_the_contract():
    policy = load_policy()
    raw_rules = [r for r in policy.tables if r.pattern.startswith("raw.")]
    assert raw_rules
    for rule in raw_rules:
        assert rule.column in get_table(rule.pattern.removeprefix("raw.")).column_names, rule
