"""Publish the BI-facing tables: a read-only DuckDB copy, and optionally a Postgres schema, each swapped in atomically.

DuckDB allows one writer: BI tools never open the warehouse the pipeline writes. They open the
published file (read-only), which is replaced by an atomic rename, so a reader sees either the
previous copy or the new one, never a half-written table.

With ``RAPPORT_SERVING_URL`` set, the same tables are loaded into a fresh Postgres schema which
replaces the ``serving`` schema by a rename in the same transaction; BI logs in as a read-only role
(``RAPPORT_BI_ROLE``, default ``rapport_bi``) that may read that schema and nothing else.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb

from rapport import warehouse
from rapport.scores import SCORE_TABLES
from rapport.settings import get_settings

log = logging.getLogger("rapport.publish")

BI_TABLES = (
    "marts.customer_360",
    "marts.segment_health",
    "marts.dim_customer",
    "marts.fct_orders",
    "marts.fct_touchpoints",
    *SCORE_TABLES,
)
SERVING_SCHEMA = "serving"
_COPY_BATCH_ROWS = 10_000
# DuckDB type -> Postgres type; anything else is published as text.
_POSTGRES_TYPES = {
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def publish(tables: tuple[str, ...] = BI_TABLES, target: Path | None = None) -> dict:
    """Publish ``tables`` that exist: the DuckDB copy always, Postgres when ``RAPPORT_SERVING_URL`` is set."""
    settings = get_settings()
    result = publish_duckdb(tables, target)
    if settings.serving_url:
        con = warehouse.connect()
        try:
            result["postgres"] = publish_postgres(con, list(result["tables"]), settings.serving_url)
        finally:
            con.close()
    return result


def publish_duckdb(tables: tuple[str, ...] = BI_TABLES, target: Path | None = None) -> dict:
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
        _fsync(staging)
    except BaseException:
        for leftover in (staging, staging.with_name(f"{staging.name}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    os.replace(staging, target)
    _fsync(target.parent)
    return {"serving_path": str(target), "tables": copied}


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash after the rename cannot leave an empty copy."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_published(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """What a BI tool does: a read-only connection to the published copy."""
    path = Path(path or get_settings().serving_path)
    if not path.exists():
        raise FileNotFoundError(f"nothing published at {path} yet: run `rapport publish`")
    return duckdb.connect(str(path), read_only=True)


def redact_url(url: str) -> str:
    """A connection URL fit for a log line: the password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _postgres_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[tuple[str, str, str]]:
    """(column, Postgres type, DuckDB select expression) for each column of a warehouse table."""
    schema, name = qualified.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? and table_catalog = current_database() order by ordinal_position",
        [schema, name],
    ).fetchall()
    columns = []
    for column, duck_type in rows:
        quoted = '"' + column.replace('"', '""') + '"'
        if duck_type in _POSTGRES_TYPES:
            columns.append((column, _POSTGRES_TYPES[duck_type], quoted))
        elif duck_type.startswith("DECIMAL"):
            columns.append((column, duck_type.replace("DECIMAL", "numeric"), quoted))
        else:
            columns.append((column, "text", f"cast({quoted} as varchar)"))
    return columns


def _load_table(pg, con: duckdb.DuckDBPyConnection, qualified: str, schema: str) -> int:
    from psycopg import sql

    name = qualified.split(".")[1]
    columns = _postgres_columns(con, qualified)
    target = sql.Identifier(schema, name)
    definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t, _ in columns)
    pg.execute(sql.SQL("create table {} ({})").format(target, definition))
    return copy_rows(pg, con, qualified, target, columns)


def copy_rows(pg, con: duckdb.DuckDBPyConnection, source: str, target, columns: list[tuple[str, str, str]]) -> int:
    """Stream the DuckDB relation ``source`` into the Postgres table ``target`` (a psycopg identifier) with COPY,
    in batches; ``columns`` as ``_postgres_columns`` gives them. Returns the rows copied."""
    from psycopg import sql

    names = sql.SQL(", ").join(sql.Identifier(c) for c, _, _ in columns)
    result = con.execute(f"select {', '.join(e for _, _, e in columns)} from {source}")
    rows = 0
    with pg.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(target, names)) as copy:
        while batch := result.fetchmany(_COPY_BATCH_ROWS):
            for row in batch:
                copy.write_row(row)
            rows += len(batch)
    return rows


def _ensure_bi_role(pg, role: str, password: str) -> None:
    """The BI role: may log in, reads in read-only transactions, owns nothing, is granted nothing but serving."""
    from psycopg import sql

    exists = pg.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone()
    if not exists:
        pg.execute(sql.SQL("create role {} login nosuperuser nocreatedb nocreaterole").format(sql.Identifier(role)))
    if password:
        pg.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(password)))
    pg.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(sql.Identifier(role)))


def publish_postgres(con: duckdb.DuckDBPyConnection, tables: list[str], url: str) -> dict:
    """Load ``tables`` into a new schema, grant the BI role read access, and rename it to ``serving``; one transaction.

    Readers keep seeing the previous ``serving`` schema until the commit, then the new one; a failure
    at any step rolls back and leaves the previous schema in place.
    """
    import psycopg
    from psycopg import sql

    settings = get_settings()
    names = [t.split(".")[1] for t in tables]
    clashing = sorted({n for n in names if names.count(n) > 1})
    if clashing:
        raise ValueError(f"BI tables {clashing} appear in more than one schema; Postgres serving needs unique names")
    incoming = f"{SERVING_SCHEMA}_incoming_{uuid.uuid4().hex[:8]}"
    previous = f"{SERVING_SCHEMA}_previous_{uuid.uuid4().hex[:8]}"
    role = sql.Identifier(settings.bi_role)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=False) as pg:
        _ensure_bi_role(pg, settings.bi_role, settings.bi_password)
        pg.execute(sql.SQL("create schema {}").format(sql.Identifier(incoming)))
        rows = {qualified: _load_table(pg, con, qualified, incoming) for qualified in tables}
        pg.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(incoming), role))
        pg.execute(sql.SQL("grant select on all tables in schema {} to {}").format(sql.Identifier(incoming), role))
        had_previous = pg.execute("select 1 from pg_namespace where nspname = %s", [SERVING_SCHEMA]).fetchone()
        if had_previous:
            pg.execute(
                sql.SQL("alter schema {} rename to {}").format(sql.Identifier(SERVING_SCHEMA), sql.Identifier(previous))
            )
        pg.execute(
            sql.SQL("alter schema {} rename to {}").format(sql.Identifier(incoming), sql.Identifier(SERVING_SCHEMA))
        )
        if had_previous:
            pg.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(previous)))
    log.info(
        "published %d tables to %s schema %s in %.1f s",
        len(rows),
        redact_url(url),
        SERVING_SCHEMA,
        time.perf_counter() - started,
    )
    return {"url": redact_url(url), "schema": SERVING_SCHEMA, "role": settings.bi_role, "tables": rows}
