"""The audit log: one row per privacy-relevant action (erasure, retention, export), without personal data.

A row names the action, the subject as a salted hash (never the customer id itself), the actor, the
time and what was touched (row counts per table, file counts per folder), so a data-protection
officer can show that a request was honoured without the log becoming personal data itself.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import duckdb

from rapport.pii import hash_pii
from rapport.settings import get_settings

AUDIT_TABLE = "ops.audit_log"


def subject_hash(customer_id: str, salt: str | None = None) -> str:
    """The salted hash a customer is known by in the audit log and the suppression list."""
    hashed = hash_pii(customer_id, salt if salt is not None else get_settings().pii_salt, "text")
    if hashed is None:
        raise ValueError("a customer id must not be empty")
    return hashed


def ensure_audit_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    con.execute(
        f"create table if not exists {AUDIT_TABLE} (audit_id varchar, action varchar, subject_hash varchar, "
        "request_id varchar, actor varchar, acted_at timestamp, as_of_date date, counts json, details json)"
    )


def record(
    con: duckdb.DuckDBPyConnection,
    action: str,
    *,
    subject: str | None = None,
    request_id: str | None = None,
    as_of: date | None = None,
    counts: dict[str, int] | None = None,
    details: dict[str, object] | None = None,
) -> str:
    """Append one row to the audit log; ``subject`` is a customer id, stored only as its salted hash."""
    ensure_audit_table(con)
    audit_id = f"audit-{uuid.uuid4().hex[:12]}"
    con.execute(
        f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            audit_id,
            action,
            subject_hash(subject) if subject is not None else None,
            request_id,
            get_settings().actor,
            datetime.now(UTC).replace(tzinfo=None),
            as_of,
            json.dumps(counts or {}, sort_keys=True),
            json.dumps(details or {}, sort_keys=True, default=str),
        ],
    )
    return audit_id


def record_event(action: str, **fields) -> str:
    """Record an action from outside a warehouse transaction (e.g. a campaign export), holding the warehouse."""
    from rapport import warehouse

    with warehouse.writer_lock():
        con = warehouse.connect()
        try:
            return record(con, action, **fields)
        finally:
            con.close()
