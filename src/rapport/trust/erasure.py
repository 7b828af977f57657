"""Forgetting a customer: every warehouse table, the published copies, files on disk, and future loads.

Tables are found, not listed: every base table with a ``customer_id`` column loses the customer's
rows, and every table without one but with an identity column the customer had (``email_hash``,
``phone_hash``, ``loyalty_card_id``, e.g. call-center contacts matched by phone) loses the rows
carrying those identifiers. A table some engineer adds tomorrow is therefore covered the day it
lands. Quarantine tables keep the original (text) customer id, so the same rule finds them.

Deleting is not enough while the landing files (the sources' own copies) still hold the customer:
the customer's salted hashes go to a suppression list (``ops.erasure_suppression``) that ingestion
applies to every row it reads (:func:`drop_suppressed_rows`), so a rerun never brings them back.
Free-text evidence in ``ops`` tables (gate results quoting failing values) and files under
``RAPPORT_HOME`` (MLflow artifacts, reports, Data Docs, logs) have the id overwritten in place.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from rapport.pii import hash_pii, hash_pii_sql
from rapport.settings import get_settings
from rapport.trust import audit

log = logging.getLogger("rapport.trust.erasure")

SUPPRESSION_TABLE = "ops.erasure_suppression"
SUBJECT_COLUMN = "customer_id"
# How a customer is recognised in tables that do not carry customer_id (the customers table's identifiers).
IDENTITY_COLUMNS = ("email_hash", "phone_hash", "loyalty_card_id")
# Tables that hold only salted hashes by design and must outlive the erasure.
KEPT_TABLES = (audit.AUDIT_TABLE, SUPPRESSION_TABLE)
_MAX_SCRUBBED_FILE_BYTES = 500_000_000


def ensure_suppression_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    con.execute(
        f"create table if not exists {SUPPRESSION_TABLE} (identity_column varchar, value_hash varchar, "
        "subject_hash varchar, request_id varchar, suppressed_at timestamp)"
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def customer_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every base table that can hold a customer's rows, with the columns that identify them."""
    from rapport.warehouse import base_table_columns

    found = {}
    for qualified, columns in base_table_columns(con).items():
        identifying = [c for c in columns if c in (SUBJECT_COLUMN, *IDENTITY_COLUMNS)]
        if qualified in KEPT_TABLES or not identifying:
            continue
        found[qualified] = [SUBJECT_COLUMN] if SUBJECT_COLUMN in identifying else identifying
    return found


def customer_identifiers(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, list[str]]:
    """The customer's identifying values (email/phone hashes, loyalty cards) wherever they appear beside their id."""
    from rapport.warehouse import base_table_columns

    found: dict[str, set[str]] = {column: set() for column in IDENTITY_COLUMNS}
    for qualified, columns in base_table_columns(con).items():
        if SUBJECT_COLUMN not in columns:
            continue
        schema, table = qualified.split(".", 1)
        for column in (c for c in columns if c in IDENTITY_COLUMNS):
            values = con.execute(
                f"select distinct cast({_quote(column)} as varchar) from {_quote(schema)}.{_quote(table)} "
                f"where trim(cast({_quote(SUBJECT_COLUMN)} as varchar)) = ? and {_quote(column)} is not null",
                [customer_id],
            ).fetchall()
            found[column].update(v for (v,) in values)
    return {column: sorted(values) for column, values in found.items() if values}


def _delete_customer_rows(
    con: duckdb.DuckDBPyConnection,
    qualified: str,
    columns: list[str],
    customer_id: str,
    identifiers: dict[str, list[str]],
) -> int:
    schema, table = qualified.split(".", 1)
    target = f"{_quote(schema)}.{_quote(table)}"
    if columns == [SUBJECT_COLUMN]:
        sql = f"delete from {target} where trim(cast({_quote(SUBJECT_COLUMN)} as varchar)) = ?"
        return con.execute(sql, [customer_id]).fetchone()[0]
    matched = [c for c in columns if identifiers.get(c)]
    if not matched:
        return 0
    where = " or ".join(f"cast({_quote(c)} as varchar) in (select unnest(?))" for c in matched)
    return con.execute(f"delete from {target} where {where}", [identifiers[c] for c in matched]).fetchone()[0]


def _scrub_ops_text(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, int]:
    """Overwrite the id where ``ops`` tables quote it in free text (gate results list failing values)."""
    columns = con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'ops' "
        "and table_catalog = current_database() and data_type in ('VARCHAR', 'JSON')"
    ).fetchall()
    pattern = _word_pattern(customer_id)
    counts = {}
    for table, column in columns:
        if f"ops.{table}" in KEPT_TABLES:
            continue
        value = f"cast({_quote(column)} as varchar)"
        changed = con.execute(
            f"update ops.{_quote(table)} set {_quote(column)} = regexp_replace({value}, ?, '\\1[erased]\\2', 'g') "
            f"where regexp_matches({value}, ?)",
            [pattern, pattern],
        ).fetchone()[0]
        if changed:
            counts[f"ops.{table}.{column}"] = changed
    return counts


def _word_pattern(customer_id: str) -> str:
    """The id as a whole word (C0001 must not match inside C00012)."""
    return rf"(^|[^A-Za-z0-9_]){re.escape(customer_id)}([^A-Za-z0-9_]|$)"


def _suppress(
    con: duckdb.DuckDBPyConnection, customer_id: str, identifiers: dict[str, list[str]], request_id: str | None
) -> int:
    """Add the customer's salted hashes to the suppression list (once each)."""
    salt = get_settings().pii_salt
    subject = audit.subject_hash(customer_id, salt)
    entries = [(SUBJECT_COLUMN, subject)]
    entries += [(column, hash_pii(value, salt, "text")) for column, values in identifiers.items() for value in values]
    added = 0
    for column, value_hash in entries:
        exists = con.execute(
            f"select count(*) from {SUPPRESSION_TABLE} where identity_column = ? and value_hash = ?",
            [column, value_hash],
        ).fetchone()[0]
        if not exists:
            con.execute(
                f"insert into {SUPPRESSION_TABLE} values (?, ?, ?, ?, current_timestamp::timestamp)",
                [column, value_hash, subject, request_id],
            )
            added += 1
    return added


def erase_from_warehouse(
    con: duckdb.DuckDBPyConnection, customer_id: str, request_id: str | None = None
) -> dict[str, int]:
    """Delete the customer from every table and suppress them, in one transaction; rows deleted per table."""
    from rapport.warehouse import transaction

    ensure_suppression_table(con)
    with transaction(con):
        tables = customer_tables(con)
        identifiers = customer_identifiers(con, customer_id)
        counts = {
            qualified: _delete_customer_rows(con, qualified, columns, customer_id, identifiers)
            for qualified, columns in tables.items()
        }
        counts = {table: n for table, n in counts.items() if n}
        counts.update(_scrub_ops_text(con, customer_id))
        counts[SUPPRESSION_TABLE] = _suppress(con, customer_id, identifiers, request_id)
    con.execute("checkpoint")
    return counts


def drop_suppressed_rows(con: duckdb.DuckDBPyConnection, relation: str, columns: Iterable[str], salt: str) -> int:
    """Ingestion's hook: delete from ``relation`` the rows of forgotten customers before they reach raw or quarantine.

    A row is matched on ``customer_id`` when ``relation`` has one, otherwise on its identity columns,
    by the same salted hash the suppression list stores (so the list itself holds no identifiers).
    """
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' "
        "and table_name = 'erasure_suppression' and table_catalog = current_database()"
    ).fetchone()[0]
    columns = list(columns)
    matched = [SUBJECT_COLUMN] if SUBJECT_COLUMN in columns else [c for c in columns if c in IDENTITY_COLUMNS]
    if not exists or not matched:
        return 0
    conditions = [
        f"{hash_pii_sql(f'cast({_quote(c)} as varchar)', salt, 'text')} in "
        f"(select value_hash from {SUPPRESSION_TABLE} where identity_column = {_sql_string(c)})"
        for c in matched
    ]
    dropped = con.execute(f"delete from {relation} where {' or '.join(conditions)}").fetchone()[0]
    if dropped:
        log.info("%s: %d rows of forgotten customers not loaded (suppression list)", relation, dropped)
    return dropped


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def file_stores() -> list[Path]:
    """Folders under RAPPORT_HOME whose files may quote a customer id (derived outputs, never the landing files)."""
    settings = get_settings()
    return [
        settings.mlartifacts_dir,
        settings.models_dir,
        settings.reports_dir,
        settings.quality_dir,
        settings.home / "exports",
        settings.airflow_home / "logs",
    ]


def scrub_files(customer_ids: Iterable[str], folders: Iterable[Path] | None = None) -> dict[str, int]:
    """Overwrite the customer ids in every file under ``folders`` that quotes one; files changed per folder.

    An id is replaced by as many ``#`` as it has characters, so binary files keep their layout, and
    each file is rewritten through a temporary file and an atomic rename.
    """
    ids = sorted({c.encode() for c in customer_ids}, key=len, reverse=True)
    if not ids:
        return {}
    pattern = re.compile(rb"(?<![A-Za-z0-9_])(" + b"|".join(map(re.escape, ids)) + rb")(?![A-Za-z0-9_])")
    counts: dict[str, int] = {}
    for folder in folders if folders is not None else file_stores():
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.stat().st_size > _MAX_SCRUBBED_FILE_BYTES:
                log.warning("not scanned for erased customers (too large): %s", path)
                continue
            data = path.read_bytes()
            scrubbed = pattern.sub(lambda m: b"#" * len(m.group(1)), data)
            if scrubbed != data:
                _rewrite(path, scrubbed)
                counts[str(folder)] = counts.get(str(folder), 0) + 1
    return counts


def _rewrite(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.scrub")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@dataclass(frozen=True)
class ErasureRequest:
    """Who is to be forgotten, and (for the audit log) which request asked for it, through which channel, when."""

    customer_id: str
    request_id: str | None = None
    channel: str = "cli"
    requested_at: object | None = None


def forget_all(requests: list[ErasureRequest], republish: bool = True) -> list[dict]:
    """Erase customers from the warehouse, the published copies and files; one audit row each.

    The warehouse part of each request is one transaction; the published copies are replaced and
    the files scanned once for the whole batch. Safe to repeat: a second call finds nothing left
    to delete and suppresses nothing twice.
    """
    from rapport import warehouse

    requests = [replace(r, customer_id=r.customer_id.strip()) for r in requests]
    if any(not r.customer_id for r in requests):
        raise ValueError("forget: every request needs a customer id")
    if not requests:
        return []
    with warehouse.writer_lock():
        con = warehouse.connect()
        try:
            counts = [erase_from_warehouse(con, r.customer_id, r.request_id) for r in requests]
        finally:
            con.close()
        published = _republish() if republish else {}
        files = scrub_files(r.customer_id for r in requests)
        con = warehouse.connect()
        try:
            audit_ids = [
                audit.record(
                    con,
                    "erasure",
                    subject=r.customer_id,
                    request_id=r.request_id,
                    counts=tables,
                    details={
                        "channel": r.channel,
                        "requested_at": r.requested_at,
                        "batch_files_scrubbed": files,
                        "republished": published.get("tables", {}),
                    },
                )
                for r, tables in zip(requests, counts, strict=True)
            ]
        finally:
            con.close()
    results = []
    for r, tables, audit_id in zip(requests, counts, audit_ids, strict=True):
        deleted = sum(n for table, n in tables.items() if table != SUPPRESSION_TABLE)
        log.info("erasure %s: %d rows deleted in %d tables", audit_id, deleted, len(tables))
        results.append(
            {
                "audit_id": audit_id,
                "subject_hash": audit.subject_hash(r.customer_id),
                "rows_deleted": deleted,
                "tables": tables,
                "files_scrubbed": files,
                "republished": bool(published),
            }
        )
    return results


def _republish() -> dict:
    """Replace the published BI copies (DuckDB file, Postgres schema) so they no longer hold erased customers."""
    from rapport import publish

    settings = get_settings()
    if not settings.serving_path.exists() and not settings.serving_url:
        return {}
    return publish.publish()


def apply_deletion_requests() -> dict:
    """Honour every request in ``raw.deletion_requests``; a honoured request's row goes with the customer's data.

    The request row itself names the customer, so it is erased too: what remains is the audit row
    (request id, subject hash, when, who). Without the source table (an older warehouse, or before
    the first request file) nothing happens.
    """
    from rapport import warehouse

    with warehouse.writer_lock():
        con = warehouse.connect()
        try:
            if not warehouse.table_exists(con, "raw", "deletion_requests"):
                return {"requests": 0, "rows_deleted": 0, "note": "raw.deletion_requests does not exist yet"}
            rows = con.execute(
                "select request_id, trim(customer_id), requested_at, channel from raw.deletion_requests "
                "where nullif(trim(customer_id), '') is not null order by requested_at, request_id"
            ).fetchall()
        finally:
            con.close()
        requests = [
            ErasureRequest(customer_id, request_id, channel or "request", requested_at)
            for request_id, customer_id, requested_at, channel in rows
        ]
        results = forget_all(requests)
    return {
        "requests": len(results),
        "rows_deleted": sum(r["rows_deleted"] for r in results),
        "audit_ids": [r["audit_id"] for r in results],
    }
