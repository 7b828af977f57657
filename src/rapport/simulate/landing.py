"""Formatting simulated columns as landing text and writing one file per table and day."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from rapport.contract import Table

SECONDS_PER_DAY = 86_400
_HMS = np.array([f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in range(SECONDS_PER_DAY)], dtype=object)


class Clock:
    """Turns seconds since the simulation's first midnight (UTC) into landing timestamps and days."""

    def __init__(self, start: date, first_day: int, last_day: int) -> None:
        self.start = start
        self.first_day = first_day
        self._days = np.array(
            [(start + timedelta(days=d)).isoformat() + " " for d in range(first_day, last_day + 1)], dtype=object
        )

    def day_name(self, day: int) -> str:
        return (self.start + timedelta(days=int(day))).isoformat()

    def timestamps(self, seconds: np.ndarray) -> np.ndarray:
        seconds = np.asarray(seconds, dtype=np.int64)
        return self._days[seconds // SECONDS_PER_DAY - self.first_day] + _HMS[seconds % SECONDS_PER_DAY]


def format_money(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%.2f", np.round(np.asarray(values, dtype=float), 2)).astype(object)


def format_ints(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype(str).astype(object)


def format_bools(values: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(values, dtype=bool), "true", "false").astype(object)


def make_ids(prefix: str, count: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, count + 1)], dtype=object)


def write_table(
    landing_dir: Path, table: Table, columns: dict[str, np.ndarray], days: np.ndarray, clock: Clock, file_format: str
) -> int:
    """Write ``columns`` (text arrays in contract order, '' for null) into one file per day; returns rows written."""
    missing = [name for name in table.column_names if name not in columns]
    if missing:
        raise ValueError(f"simulated {table.name} lacks contract columns {missing}")
    count = len(days)
    if count == 0:
        return 0
    order = np.argsort(days, kind="stable")
    days = np.asarray(days)[order]
    ordered = [np.asarray(columns[name], dtype=object)[order] for name in table.column_names]
    folder = landing_dir / table.name
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [count]])
    for lo, hi in zip(starts, ends, strict=True):
        stem = folder / f"{table.name}_{clock.day_name(days[lo])}"
        if file_format == "csv":
            with open(stem.with_suffix(".csv"), "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(table.column_names)
                writer.writerows(zip(*(col[lo:hi].tolist() for col in ordered), strict=True))
        else:
            frame = pd.DataFrame({name: col[lo:hi] for name, col in zip(table.column_names, ordered, strict=True)})
            frame.astype("string").to_parquet(stem.with_suffix(".parquet"), index=False)
    return count
