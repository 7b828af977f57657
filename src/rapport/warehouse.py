"""Access to the DuckDB warehouse: one writer at a time, atomic partition replacement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from rapport.scores import ensure_score_tables
from rapport.settings import get_settings

SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "ml", "ops")


def connect(path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it and its schemas when writable)."""
    path = Path(path or get_settings().warehouse_path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"warehouse {path} does not exist yet: run `rapport ingest` first")
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    ensure_score_tables(con)
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one transaction: all of it lands, or none of it."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame,
    partition: dict[str, object],
) -> int:
    """Replace the rows of ``table`` matching ``partition`` with ``frame``, atomically.

    The table is created from the frame's schema on first write. A rerun with the same partition
    values replaces, never duplicates; a failure leaves the previous rows in place.
    """
    missing = [k for k in partition if k not in frame.columns]
    if missing:
        raise ValueError(f"frame written to {table} lacks partition columns {missing}")
    con.register("_incoming", frame)
    try:
        with transaction(con):
            con.execute(f"create table if not exists {table} as select * from _incoming limit 0")
            where = " and ".join(f"{k} = ?" for k in partition)
            con.execute(f"delete from {table} where {where}", list(partition.values()))
            con.execute(f"insert into {table} by name select * from _incoming")
    finally:
        con.unregister("_incoming")
    return len(frame)


def row_counts(con: duckdb.DuckDBPyConnection, schemas: Sequence[str] = SCHEMAS) -> dict[str, int]:
    """Row count of every table in the given schemas, keyed ``schema.table``."""
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_type = 'BASE TABLE' order by 1, 2",
        [list(schemas)],
    ).fetchall()
    return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
