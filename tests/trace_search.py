"""Where a person's identifiers still stand in a warehouse: shared by the erasure tests (unit and end to end)."""

from __future__ import annotations

import re

import duckdb


def column_traces(con: duckdb.DuckDBPyConnection, needles: list[str]) -> list[str]:
    """'schema.table.column: n' for every text column of the connection's database quoting one of ``needles``.

    A needle counts as a whole word (``C1`` is not found in ``C10``) anywhere in the text, so an identifier inside
    a JSON document or a sentence is found too.
    """
    pattern = "(^|[^A-Za-z0-9_])(" + "|".join(map(re.escape, needles)) + ")([^A-Za-z0-9_]|$)"
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_catalog = current_database()"
    ).fetchall()
    found = []
    for schema, table, column in columns:
        n = con.execute(
            f'select count(*) from "{schema}"."{table}" where regexp_matches(cast("{column}" as varchar), ?)',
            [pattern],
        ).fetchone()[0]
        if n:
            found.append(f"{schema}.{table}.{column}: {n}")
    return found
