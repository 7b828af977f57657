"""Publish the BI-facing tables as a read-only DuckDB copy, swapped in atomically.

DuckDB allows one writer: BI tools never open the warehouse the pipeline writes. They open the
published file (read-only), which is replaced by an atomic rename, so a reader sees either the
previous copy or the new one, never a half-written table.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from rapport import warehouse
from rapport.settings import get_settings

BI_TABLES = (
    "marts.customer_360",
    "ml.churn_scores",
    "ml.offer_recommendations",
    "ml.review_sentiment",
)


def publish(tables: tuple[str, ...] = BI_TABLES, target: Path | None = None) -> dict:
    """Copy ``tables`` that exist into a new file next to ``target``, then rename it over ``target``."""
    settings = get_settings()
    target = Path(target or settings.serving_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.{time.time_ns()}.tmp")
    con = warehouse.connect()
    copied: dict[str, int] = {}
    try:
        con.execute(f"attach '{staging}' as serving")
        for qualified in tables:
            schema, name = qualified.split(".")
            if not warehouse.table_exists(con, schema, name):
                continue
            con.execute(f"create schema if not exists serving.{schema}")
            con.execute(f"create table serving.{schema}.{name} as select * from {schema}.{name}")
            copied[qualified] = con.execute(f"select count(*) from serving.{schema}.{name}").fetchone()[0]
        con.execute("detach serving")
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    os.replace(staging, target)
    return {"serving_path": str(target), "tables": copied}


def open_published(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """What a BI tool does: a read-only connection to the published copy."""
    path = Path(path or get_settings().serving_path)
    if not path.exists():
        raise FileNotFoundError(f"nothing published at {path} yet: run `rapport publish`")
    return duckdb.connect(str(path), read_only=True)
