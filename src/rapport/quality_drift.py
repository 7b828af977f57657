"""Distribution checks against the previous good run, so silent drift stops the line like a broken rule.

Each gated batch named in the ``drift`` section of ``expectations/thresholds.yaml`` is profiled in one
SQL query (row count; mean, standard deviation and 5th/50th/95th percentiles of the listed columns).
The profile is compared with the latest one stored in ``ops.gate_profiles`` by a run whose gate passed;
a run with no such reference passes with a note and its profile becomes the reference once its gate
passes. Profiles are read here (read-only) and written by the pipeline with the gate's result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from rapport.quality_suites import CRITICAL, thresholds

QUANTILES = (0.05, 0.5, 0.95)
PROFILES_TABLE = "ops.gate_profiles"
_PROFILES_DDL = (
    f"create table if not exists {PROFILES_TABLE} (run_id varchar, as_of_date date, gate varchar, suite varchar, "
    "is_reference boolean, profile json, profiled_at timestamp)"
)


@dataclass(frozen=True)
class DriftRule:
    """How far a suite's batch may move from the reference run, and what a larger move costs."""

    columns: tuple[str, ...]
    row_count_change: float
    max_shift_sd: float
    severity: str


def drift_rule(suite: str) -> DriftRule | None:
    """The configured drift rule of a suite, or None when the suite is not profiled."""
    config = thresholds("drift")
    entry = (config.get("suites") or {}).get(suite)
    if entry is None:
        return None
    merged = {**(config.get("default") or {}), **entry}
    return DriftRule(
        columns=tuple(merged.get("columns") or ()),
        row_count_change=float(merged.get("row_count_change", 0.5)),
        max_shift_sd=float(merged.get("max_shift_sd", 0.5)),
        severity=str(merged.get("severity", CRITICAL)),
    )


def profile_batch(con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str]) -> dict[str, Any]:
    """Row count and per-column mean, standard deviation and quantiles of ``relation`` (one scan)."""
    selects = ["count(*)"]
    for column in columns:
        quoted = f'"{column}"::double'
        selects += [f"avg({quoted})", f"stddev_samp({quoted})", f"quantile_cont({quoted}, {list(QUANTILES)})"]
    row = con.execute(f"select {', '.join(selects)} from ({relation}) as batch").fetchone()
    profile: dict[str, Any] = {"row_count": int(row[0]), "columns": {}}
    for index, column in enumerate(columns):
        mean, sd, quantiles = row[1 + 3 * index : 4 + 3 * index]
        profile["columns"][column] = {
            "mean": _number(mean),
            "sd": _number(sd),
            "quantiles": dict(
                zip((f"p{round(q * 100):02d}" for q in QUANTILES), map(_number, quantiles or []), strict=False)
            ),
        }
    return profile


def compare_profiles(
    suite: str, table: str, current: Mapping[str, Any], reference: Mapping[str, Any], rule: DriftRule
) -> list[dict[str, Any]]:
    """The drift findings of ``current`` against ``reference``, shaped like failed expectations."""
    findings = []
    before, now = reference["row_count"], current["row_count"]
    change = (now - before) / before if before else (math.inf if now else 0.0)
    if abs(change) > rule.row_count_change:
        findings.append(
            _finding(
                suite,
                table,
                "drift_row_count_change",
                None,
                rule,
                observed=now,
                expected={"reference_row_count": before, "max_relative_change": rule.row_count_change},
                detail=f"{change:+.0%} rows",
            )
        )
    for column in rule.columns:
        ours, theirs = current["columns"].get(column), (reference.get("columns") or {}).get(column)
        if not ours or not theirs or not theirs.get("sd"):
            continue
        pairs = {"mean": (ours["mean"], theirs["mean"])}
        pairs.update({q: (ours["quantiles"].get(q), value) for q, value in (theirs.get("quantiles") or {}).items()})
        for statistic, (value, reference_value) in pairs.items():
            if value is None or reference_value is None:
                continue
            shift = (value - reference_value) / theirs["sd"]
            if abs(shift) > rule.max_shift_sd:
                findings.append(
                    _finding(
                        suite,
                        table,
                        f"drift_{statistic}_shift",
                        column,
                        rule,
                        observed=round(value, 6),
                        expected={"reference": round(reference_value, 6), "max_shift_sd": rule.max_shift_sd},
                        detail=f"moved {shift:+.2f} sd",
                    )
                )
    return findings


def reference_profile(con: duckdb.DuckDBPyConnection, suite: str, run_id: str | None) -> dict[str, Any] | None:
    """The latest profile of ``suite`` recorded by another run whose gate passed, or None."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'gate_profiles'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(
        f"select profile, run_id, as_of_date from {PROFILES_TABLE} "
        "where suite = ? and is_reference and run_id is distinct from ? order by profiled_at desc limit 1",
        [suite, run_id],
    ).fetchone()
    if not row:
        return None
    return {**json.loads(row[0]), "run_id": row[1], "as_of_date": row[2].isoformat() if row[2] else None}


def record_profiles(
    con: duckdb.DuckDBPyConnection,
    gate: str,
    profiles: Mapping[str, Mapping[str, Any]],
    run_id: str,
    as_of: date | None,
    is_reference: bool,
) -> None:
    """Store a gate run's profiles; they become the next run's reference only when the gate passed."""
    con.execute(_PROFILES_DDL)
    now = datetime.now(UTC).replace(tzinfo=None)
    for suite, profile in profiles.items():
        con.execute(f"delete from {PROFILES_TABLE} where run_id = ? and suite = ?", [run_id, suite])
        con.execute(
            f"insert into {PROFILES_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [run_id, as_of, gate, suite, is_reference, json.dumps(profile), now],
        )


def _finding(
    suite: str,
    table: str,
    expectation: str,
    column: str | None,
    rule: DriftRule,
    observed: Any,
    expected: dict[str, Any],
    detail: str,
) -> dict[str, Any]:
    return {
        "suite": suite,
        "table": table,
        "expectation": expectation,
        "column": column,
        "severity": rule.severity,
        "observed_value": observed,
        "expected": expected,
        "unexpected_count": None,
        "sample_unexpected_values": [],
        "error": None,
        "detail": detail,
    }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value
