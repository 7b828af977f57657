"""The dbt project's sources in a Postgres warehouse: copy ``raw.*`` and ``ml.*`` from the DuckDB warehouse.

The dbt models run unchanged on Postgres (``RAPPORT_DBT_TARGET=postgres``, the ``postgres`` output of
``dbt_project/profiles.yml``); what they read must be there first. Ingestion and scoring write the
DuckDB warehouse, so :func:`copy_sources` loads its ``raw`` tables (the data contract's sources) and
``ml`` tables (the score tables the score marts read) into the same schemas on Postgres, with psycopg
``COPY`` (DuckDB's postgres extension is downloaded on first use, so it cannot be relied on offline).

Each schema is replaced in one transaction: a reader (or a dbt run) sees the previous rows or the new
ones. A table whose columns are unchanged is truncated and refilled, so the dbt views on it survive; a
table whose columns changed is dropped with its dependent views, which the next ``dbt build`` recreates.

The connection comes from the same variables as the dbt profile: ``RAPPORT_PG_HOST`` (127.0.0.1),
``RAPPORT_PG_PORT`` (5432), ``RAPPORT_PG_USER`` (postgres), ``RAPPORT_PG_PASSWORD`` (empty) and
``RAPPORT_PG_DATABASE`` (rapport).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from urllib.parse import quote

import duckdb

from rapport import warehouse
from rapport.publish import _postgres_columns, copy_rows, redact_url

log = logging.getLogger("rapport.warehouse_postgres")

SOURCE_SCHEMAS = ("raw", "ml")


def postgres_url() -> str:
    """The Postgres warehouse the dbt ``postgres`` target builds in, from the ``RAPPORT_PG_*`` variables."""
    user = quote(os.environ.get("RAPPORT_PG_USER", "postgres"), safe="")
    password = os.environ.get("RAPPORT_PG_PASSWORD", "")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = os.environ.get("RAPPORT_PG_HOST", "127.0.0.1")
    port = os.environ.get("RAPPORT_PG_PORT", "5432")
    database = os.environ.get("RAPPORT_PG_DATABASE", "rapport")
    return f"postgresql://{credentials}@{host}:{port}/{quote(database, safe='')}"


def _duckdb_tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' "
        "and table_catalog = current_database() order by table_name",
        [schema],
    ).fetchall()
    return [name for (name,) in rows]


def _postgres_table_columns(pg, schema: str, name: str) -> list[tuple[str, str]]:
    rows = pg.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a "
        "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped order by a.attnum",
        [f'"{schema}"."{name}"'],
    ).fetchall()
    return [(column, column_type) for column, column_type in rows]


def _copy_table(pg, con: duckdb.DuckDBPyConnection, schema: str, name: str) -> int:
    from psycopg import sql

    columns = _postgres_columns(con, f"{schema}.{name}")
    target = sql.Identifier(schema, name)
    if _postgres_table_columns(pg, schema, name) == [(c, t) for c, t, _ in columns]:
        pg.execute(sql.SQL("truncate table {}").format(target))
    else:
        pg.execute(sql.SQL("drop table if exists {} cascade").format(target))
        definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t, _ in columns)
        pg.execute(sql.SQL("create table {} ({})").format(target, definition))
    rows = copy_rows(pg, con, f'"{schema}"."{name}"', target, columns)
    pg.execute(sql.SQL("analyze {}").format(target))  # planner statistics for the dbt models' joins
    return rows


def copy_sources(url: str | None = None, schemas: Sequence[str] = SOURCE_SCHEMAS) -> dict:
    """Copy every table of the DuckDB warehouse's ``schemas`` into the Postgres warehouse at ``url``.

    Returns the rows copied per ``schema.table`` and the seconds it took. Tables on Postgres that the
    DuckDB schema no longer has are left alone.
    """
    import psycopg
    from psycopg import sql

    url = url or postgres_url()
    started = time.perf_counter()
    copied: dict[str, int] = {}
    con = warehouse.connect(read_only=True)
    try:
        with psycopg.connect(url, autocommit=True) as pg:
            for schema in schemas:
                with pg.transaction():
                    pg.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
                    for name in _duckdb_tables(con, schema):
                        copied[f"{schema}.{name}"] = _copy_table(pg, con, schema, name)
    finally:
        con.close()
    seconds = round(time.perf_counter() - started, 2)
    log.info("copied %d tables (%d rows) to %s in %.1f s", len(copied), sum(copied.values()), redact_url(url), seconds)
    return {"url": redact_url(url), "tables": copied, "seconds": seconds}


if __name__ == "__main__":  # .venv/bin/python -m rapport.warehouse_postgres
    import json

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(copy_sources(), indent=2))
