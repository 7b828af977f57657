"""Retention: rows and files older than their configured time to live are deleted, and the deletion audited.

The rules live in one reviewable file (``config/retention.yaml``, ``RAPPORT_RETENTION_CONFIG``).
Ages are measured back from the as-of date, so a backfill for an old date deletes nothing that
date still needed, and the same as-of date run twice deletes nothing the second time.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from rapport.settings import get_settings
from rapport.trust import audit

log = logging.getLogger("rapport.trust.retention")

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class TableRule:
    pattern: str  # schema.table, or an fnmatch pattern over it
    column: str
    days: int

    @property
    def is_pattern(self) -> bool:
        return any(ch in self.pattern for ch in "*?[")


@dataclass(frozen=True)
class FileRule:
    folder: str  # under RAPPORT_HOME
    days: int


@dataclass(frozen=True)
class RetentionPolicy:
    source: Path
    tables: tuple[TableRule, ...]
    files: tuple[FileRule, ...]


def _days(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: days must be a whole number >= 0, not {value!r}")
    return value


def load_policy(path: Path | None = None) -> RetentionPolicy:
    """Read and check the retention rules; errors name the file and the rule."""
    path = Path(path or get_settings().retention_config)
    if not path.exists():
        raise FileNotFoundError(f"retention rules not found: {path} (RAPPORT_RETENTION_CONFIG)")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(config) - {"tables", "files"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (expected tables, files)")
    tables = []
    for pattern, rule in (config.get("tables") or {}).items():
        if not isinstance(rule, dict) or "column" not in rule or "days" not in rule or "." not in pattern:
            raise ValueError(f"{path}: tables.{pattern} must be schema.table: {{column: ..., days: ...}}")
        tables.append(TableRule(pattern, str(rule["column"]), _days(rule["days"], f"{path}: tables.{pattern}")))
    files = [
        FileRule(folder, _days(days, f"{path}: files.{folder}")) for folder, days in (config.get("files") or {}).items()
    ]
    return RetentionPolicy(path, tuple(tables), tuple(files))


def expire_rows(
    con: duckdb.DuckDBPyConnection, rules: tuple[TableRule, ...], as_of: date, source: Path
) -> tuple[dict[str, int], list[str]]:
    """Delete rows older than each rule's time to live, in one transaction; rows deleted per table, tables skipped."""
    from rapport.warehouse import base_table_columns, transaction

    tables = {name: set(columns) for name, columns in base_table_columns(con).items()}
    deleted: dict[str, int] = {}
    skipped: list[str] = []
    with transaction(con):
        for rule in rules:
            matched = sorted(t for t in tables if fnmatch.fnmatchcase(t, rule.pattern))
            for table in matched:
                if rule.column not in tables[table]:
                    if not rule.is_pattern:
                        raise ValueError(f"{source}: tables.{rule.pattern}: {table} has no column {rule.column!r}")
                    skipped.append(f"{table} (no {rule.column})")
                    continue
                schema, name = table.split(".", 1)
                cutoff = as_of - timedelta(days=rule.days)
                count = con.execute(
                    f'delete from "{schema}"."{name}" where cast("{rule.column}" as date) < ?', [cutoff]
                ).fetchone()[0]
                deleted[table] = deleted.get(table, 0) + count
    return {t: n for t, n in deleted.items() if n}, skipped


def file_date(path: Path) -> date:
    """The date a file is as old as: a YYYY-MM-DD in its name, else its modification time (UTC)."""
    found = _DATE_IN_NAME.search(path.name)
    if found:
        try:
            return date.fromisoformat(found.group(1))
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date()


def expire_files(home: Path, rules: tuple[FileRule, ...], as_of: date) -> dict[str, int]:
    """Delete files older than their folder's time to live; files deleted per folder."""
    deleted: dict[str, int] = {}
    for rule in rules:
        folder = home / rule.folder
        if not folder.is_dir():
            continue
        cutoff = as_of - timedelta(days=rule.days)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if file_date(path) < cutoff:
                path.unlink()
                deleted[rule.folder] = deleted.get(rule.folder, 0) + 1
    return deleted


def apply_retention(as_of: date, policy: RetentionPolicy | None = None) -> dict:
    """Apply the retention rules as of a date; one audit row with what went."""
    from rapport import warehouse

    policy = policy or load_policy()
    settings = get_settings()
    with warehouse.writer_lock():
        con = warehouse.connect()
        try:
            rows, skipped = expire_rows(con, policy.tables, as_of, policy.source)
            files = expire_files(settings.home, policy.files, as_of)
            counts = {**rows, **{f"files:{folder}": n for folder, n in files.items()}}
            audit_id = audit.record(
                con, "retention", as_of=as_of, counts=counts, details={"rules": str(policy.source), "skipped": skipped}
            )
        finally:
            con.close()
    log.info(
        "retention as of %s: %d rows, %d files deleted (%s)", as_of, sum(rows.values()), sum(files.values()), audit_id
    )
    return {
        "as_of": as_of.isoformat(),
        "audit_id": audit_id,
        "rows_deleted": rows,
        "files_deleted": files,
        "skipped": skipped,
    }
