"""A backfill of three days gives the same warehouse as running the three days live, and rerunning a day
changes nothing: issue 10's idempotence, proved on a real scheduler with Celery workers (not ``dag.test``).

One Airflow stack (``airflow_stack.run_live_and_backfill``, run once per session by the
``airflow_scenarios`` fixture) runs rapport_ingest, and rapport_transform, which the raw Asset
that ingest announces starts, in two RAPPORT_HOMEs holding the same landing files:

* live: three scheduler-run triggers of rapport_ingest with logical dates D1, D2, D3 (``airflow dags
  trigger --logical-date``), each waited for, with its asset-triggered transform, before the next;
* backfill: ``airflow backfill create`` over D1..D3, run by the scheduler as backfill runs. The three
  logical dates already ran live in this metadata DB, so it reprocesses them (``--reprocess-behavior
  completed``) while RAPPORT_HOME points at a fresh warehouse;

then D3 is run once more in the backfilled warehouse (``airflow tasks clear``). Compared: every table of
raw, quarantine, staging, intermediate, marts and ml, row for row (multisets), without the load-time
columns and with doubles to 4 decimals, and the ops tables (gate results and drift profiles per as-of date, audit log, erasure
suppressions) without run ids, paths and clock times.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from airflow_stack import DATES

from rapport.orchestration import INGEST_DAG_ID, TRANSFORM_DAG_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA_SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "ml")
# Columns that say when or by which run a row was written, not what it holds: the load time of raw rows
# travels on through staging (``loaded_at``) into the incremental models, whose watermark it is.
LOAD_TIME_COLUMNS = ("_load_id", "_loaded_at", "loaded_at")
RUN_COLUMNS = {
    ("raw", "_load_ledger"): ("load_id", "loaded_at"),
    ("ops", "gate_results"): ("run_id", "checked_at", "data_docs"),
    ("ops", "gate_profiles"): ("run_id", "profiled_at"),
    ("ops", "audit_log"): ("audit_id", "acted_at"),
    ("ops", "erasure_suppression"): ("suppressed_at",),
}


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def _tables(con: duckdb.DuckDBPyConnection, catalog: str, schemas: tuple[str, ...]) -> set[tuple[str, str]]:
    rows = con.execute(
        f"select table_schema, table_name from information_schema.tables where table_catalog = ? "
        f"and table_schema in ({', '.join('?' for _ in schemas)})",
        [catalog, *schemas],
    ).fetchall()
    return set(rows)


def _comparable(schema: str, table: str, column: str, data_type: str) -> str:
    """The column as compared: doubles to 4 decimals (see ``differences``), the drift profiles' JSON with its
    decimals cut after the sixth (their means are parallel sums too)."""
    if data_type in ("DOUBLE", "FLOAT"):
        return f'round("{column}" + 1e-9, 4)'
    if (schema, table, column) == ("ops", "gate_profiles", "profile"):
        return f"regexp_replace(\"{column}\"::varchar, '(\\.\\d{{6}})\\d+', '\\1', 'g')"
    return f'"{column}"'


def differences(left: Path, right: Path, *, as_sets_in: tuple[str, ...] = ()) -> dict[str, object]:
    """Tables whose content differs between two warehouses, with how many rows each has that the other lacks
    (multisets; as sets for the schemas in ``as_sets_in``); run and load-time columns left out."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{left}' as l (read_only)")
        con.execute(f"attach '{right}' as r (read_only)")
        schemas = (*DATA_SCHEMAS, "ops")
        found: dict[str, object] = {}
        left_tables, right_tables = _tables(con, "l", schemas), _tables(con, "r", schemas)
        if left_tables != right_tables:
            found["tables"] = {
                "only left": sorted(left_tables - right_tables),
                "only right": sorted(right_tables - left_tables),
            }
        for schema, table in sorted(left_tables & right_tables):
            skip = {*LOAD_TIME_COLUMNS, *RUN_COLUMNS.get((schema, table), ())}
            columns = [(c, t) for c, t in _columns(con, "l", schema, table) if c not in skip]
            if columns != [(c, t) for c, t in _columns(con, "r", schema, table) if c not in skip]:
                found[f"{schema}.{table}"] = "columns differ"
                continue
            # DuckDB's parallel aggregation sums doubles in no fixed order: two builds of the same data differ
            # in the last bits (the money features are doubles), so doubles are compared to 4 decimals. The
            # offset keeps values built from cents (106.98375 = 855.87 / 8) off the rounding boundary.
            select = ", ".join(_comparable(schema, table, c, t) for c, t in columns)
            operator = "except" if schema in as_sets_in else "except all"
            counts = []
            for a, b in (("l", "r"), ("r", "l")):
                counts.append(
                    con.execute(
                        f'select count(*) from (select {select} from {a}."{schema}"."{table}" {operator} '
                        f'select {select} from {b}."{schema}"."{table}")'
                    ).fetchone()[0]
                )
            if any(counts):
                found[f"{schema}.{table}"] = {"rows only left": counts[0], "rows only right": counts[1]}
        return found
    finally:
        con.close()


def _of(runs: list[tuple], dag_id: str) -> list[tuple]:
    return [run for run in runs if run[0] == dag_id]


def test_the_backfill_reran_the_three_days_as_backfill_runs_of_the_scheduler(airflow_scenarios):
    before, after = airflow_scenarios["runs"]["live"], airflow_scenarios["runs"]["backfill"]
    ingest = _of(after, INGEST_DAG_ID)
    assert [(r[1], r[2], r[3].date()) for r in ingest] == [("backfill", "success", d) for d in DATES]
    assert [r[4] for r in ingest] == [r[4] for r in _of(before, INGEST_DAG_ID)], "reprocessed, not new runs"
    transforms = _of(after, TRANSFORM_DAG_ID)[len(_of(before, TRANSFORM_DAG_ID)) :]
    # One transform per day, as live: without the chain's pool priorities the scheduler folds the raw events
    # of days that finish while a transform runs into one run, which builds the newest day only.
    assert [r[1:3] for r in transforms] == [("asset_triggered", "success")] * len(DATES), transforms


def test_the_backfill_builds_the_same_warehouse_as_the_live_runs(airflow_scenarios):
    snapshots = airflow_scenarios["snapshots"]
    with duckdb.connect(str(snapshots["live"]), read_only=True) as con:
        gated = con.execute("select suite, as_of_date from ops.gate_results order by all").fetchall()
        features = con.execute("select count(*) from marts.ml_customer_features where as_of_date = ?", [DATES[-1]])
        assert features.fetchone()[0] > 0
    assert gated == sorted((suite, day) for day in DATES for suite in ("churn_training_set", "raw")), gated
    assert differences(snapshots["live"], snapshots["backfill"]) == {}


def test_rerunning_a_day_leaves_the_warehouse_unchanged(airflow_scenarios):
    before, after = airflow_scenarios["runs"]["backfill"], airflow_scenarios["runs"]["rerun"]
    assert len(_of(after, TRANSFORM_DAG_ID)) == len(_of(before, TRANSFORM_DAG_ID)) + 1
    assert [r[2] for r in _of(after, INGEST_DAG_ID)] == ["success"] * len(DATES)
    # The ops tables log every run (one more retention audit, the rerun transform's gate result): as sets
    # nothing new may appear in them; the data tables must be equal row for row.
    snapshots = airflow_scenarios["snapshots"]
    assert differences(snapshots["backfill"], snapshots["rerun"], as_sets_in=("ops",)) == {}
