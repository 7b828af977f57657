"""Access to the DuckDB warehouse: one writer at a time, atomic partition replacement.

DuckDB lets one process open a database file for writing and fails any other process at once
("Could not set lock on file"). Stages that touch the warehouse therefore hold :func:`writer_lock`
first: a second pipeline run (another day, another Airflow worker) waits its turn with a message
naming the holder, instead of crashing halfway through its flow.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from rapport.scores import ensure_score_tables
from rapport.settings import get_settings

SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts", "ml", "ops")

log = logging.getLogger("rapport.warehouse")

_LOCK_POLL_SECONDS = 0.2


class WarehouseBusyError(TimeoutError):
    """Another process held the warehouse longer than this one was willing to wait."""


class _ProcessLock:
    """The process's hold on a warehouse lock file: re-entrant across threads and nested stages."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.depth = 0
        self.handle = None


_LOCKS: dict[Path, _ProcessLock] = {}
_LOCKS_GUARD = threading.Lock()


def lock_path(path: Path | None = None) -> Path:
    path = Path(path or get_settings().warehouse_path)
    return path.with_name(f"{path.name}.lock")


def _holder(lock_file: Path) -> str:
    try:
        return lock_file.read_text().strip() or "unknown process"
    except OSError:
        return "unknown process"


def _acquire(handle, lock_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse is busy: {lock_file} is held by {_holder(lock_file)}; gave up after {timeout:g} s "
                    "(RAPPORT_WAREHOUSE_LOCK_TIMEOUT)"
                ) from None
            if not announced:
                log.warning("waiting for the warehouse: %s is held by %s", lock_file, _holder(lock_file))
                announced = True
            time.sleep(_LOCK_POLL_SECONDS)


@contextmanager
def writer_lock(path: Path | None = None, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse for this process (an ``fcntl`` lock on ``<warehouse>.lock``) while the block runs.

    Re-entrant: a stage that calls another stage takes it once. The lock file names the holder (pid,
    command, since when) so a process that waits, or gives up, can say who it waited for. The kernel
    drops the lock when the holder dies, even by SIGKILL, so a crashed run never blocks the next one.
    """
    lock_file = lock_path(path)
    timeout = get_settings().warehouse_lock_timeout_seconds if timeout is None else timeout
    with _LOCKS_GUARD:
        held = _LOCKS.setdefault(lock_file, _ProcessLock())
    with held.mutex:
        if held.depth == 0:
            held.handle = _take(lock_file, timeout)
        held.depth += 1
    try:
        yield
    finally:
        with held.mutex:
            held.depth -= 1
            if held.depth == 0:
                held.handle.truncate(0)
                fcntl.flock(held.handle, fcntl.LOCK_UN)
                held.handle.close()
                held.handle = None


def _take(lock_file: Path, timeout: float):
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_file, "a+")  # noqa: SIM115 - held until the outermost writer_lock block ends
    try:
        _acquire(handle, lock_file, timeout)
    except BaseException:
        handle.close()
        raise
    handle.truncate(0)
    command = " ".join(sys.argv)[:200]
    handle.write(f"pid {os.getpid()} ({command}) since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    handle.flush()
    return handle


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise WarehouseBusyError(
            f"warehouse {path} is open in another process ({_holder(lock_path(path))}); "
            "stages wait for it by holding rapport.warehouse.writer_lock()"
        ) from exc


def connect(path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (creating it and its schemas when writable)."""
    path = Path(path or get_settings().warehouse_path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"warehouse {path} does not exist yet: run `rapport ingest` first")
        return _open(path, read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only=False)
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


def base_table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every base table of the warehouse (``schema.table``) with its columns in order; views left out."""
    rows = con.execute(
        "select c.table_schema || '.' || c.table_name, list(c.column_name order by c.ordinal_position) "
        "from information_schema.columns as c join information_schema.tables as t "
        "on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema and t.table_name = c.table_name "
        "where t.table_type = 'BASE TABLE' and c.table_catalog = current_database() group by all order by 1"
    ).fetchall()
    return dict(rows)


def row_counts(con: duckdb.DuckDBPyConnection, schemas: Sequence[str] = SCHEMAS) -> dict[str, int]:
    """Row count of every table in the given schemas, keyed ``schema.table``."""
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_type = 'BASE TABLE' order by 1, 2",
        [list(schemas)],
    ).fetchall()
    return {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
