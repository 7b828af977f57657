"""Processes the trust tests start, kill, or run side by side (``python trust_workers.py ACTION ARGS``).

Each runs against the RAPPORT_HOME it inherits and prints one line when it reaches the moment a
test waits for, so the test can act at exactly that point.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from rapport import publish, warehouse

SCORES = "ml.churn_scores"


def score_frame(day: date, rows: int, value: float) -> pd.DataFrame:
    """A churn-score partition whose rows all carry ``value`` (so a reader can tell versions apart)."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(rows)],
            "churn_probability": [value] * rows,
            "risk_band": ["low"] * rows,
            "as_of_date": [day] * rows,
            "model_name": ["rapport-churn"] * rows,
            "model_version": ["1"] * rows,
            "scoring_run_id": [f"run-{value}"] * rows,
            "scored_at": [pd.Timestamp("2026-01-01")] * rows,
        }
    )


def write_partition(day: date, rows: int, value: float) -> None:
    with warehouse.writer_lock():
        con = warehouse.connect()
        try:
            warehouse.replace_partition(
                con, SCORES, score_frame(day, rows, value), {"as_of_date": day, "model_name": "rapport-churn"}
            )
        finally:
            con.close()


def write_days(first: str, days: int, rows: int) -> None:
    """One pipeline's daily write-backs, one day after another (a backfill)."""
    start = date.fromisoformat(first)
    for offset in range(days):
        write_partition(start + timedelta(days=offset), rows, float(offset))
    print("done", flush=True)


def hold_lock(seconds: float) -> None:
    with warehouse.writer_lock():
        print("holding", flush=True)
        time.sleep(seconds)


def hold_connection(seconds: float) -> None:
    """Open the warehouse without taking the lock, as a careless tool would."""
    con = warehouse.connect()
    print("holding", flush=True)
    time.sleep(seconds)
    con.close()


def die_mid_write(day: str, rows: int) -> None:
    """Start replacing a partition and stop inside the transaction, waiting to be killed."""
    con = warehouse.connect()
    con.register("_incoming", score_frame(date.fromisoformat(day), rows, 99.0))
    con.execute("begin transaction")
    con.execute(f"delete from {SCORES} where as_of_date = ?", [date.fromisoformat(day)])
    con.execute(f"insert into {SCORES} by name select * from _incoming")
    print("mid-write", flush=True)
    time.sleep(600)


def publish_versions(versions: int, rows_per_version: int) -> None:
    """Publish ``versions`` different contents one after another: version k has k*rows rows, all of value k."""
    day = date(2026, 11, 1)
    for version in range(1, versions + 1):
        write_partition(day, version * rows_per_version, float(version))
        with warehouse.writer_lock():
            publish.publish_duckdb((SCORES,))
    print("done", flush=True)


def read_serving(seconds: float, rows_per_version: int, report: str) -> None:
    """What a dashboard does, as fast as it can: open the published copy read-only and check it is whole.

    Reads until ``<report>.stop`` appears (or ``seconds`` pass), then writes what it saw to ``report``.
    """
    seen: dict[str, int] = {}
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    print("reading", flush=True)
    stop = Path(f"{report}.stop")
    while time.monotonic() < deadline and not stop.exists():
        try:
            con = publish.open_published()
            try:
                count, low, high = con.execute(
                    f"select count(*), min(churn_probability), max(churn_probability) from {SCORES}"
                ).fetchone()
            finally:
                con.close()
        except FileNotFoundError:
            continue
        except Exception as exc:  # the point: any error a reader could see
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        if low != high or count != int(high) * rows_per_version:
            errors.append(f"half-written table: {count} rows, values {low}..{high}")
        seen[str(high)] = seen.get(str(high), 0) + 1
    with open(report, "w") as handle:
        json.dump({"seen": seen, "errors": errors}, handle)


if __name__ == "__main__":
    action, *arguments = sys.argv[1:]
    actions = {
        "write_days": lambda a: write_days(a[0], int(a[1]), int(a[2])),
        "hold_lock": lambda a: hold_lock(float(a[0])),
        "hold_connection": lambda a: hold_connection(float(a[0])),
        "die_mid_write": lambda a: die_mid_write(a[0], int(a[1])),
        "publish_versions": lambda a: publish_versions(int(a[0]), int(a[1])),
        "read_serving": lambda a: read_serving(float(a[0]), int(a[1]), a[2]),
    }
    actions[action](arguments)
