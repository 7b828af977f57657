"""Ingestion: landing files to ``raw.*`` (good rows) and ``quarantine.*`` (bad rows, with reasons).

Every row is checked against the data contract (:mod:`rapport.contract`): required values, types,
enums, ranges, references to other tables, duplicate keys. Files are streamed, never held whole:
one pass computes the checksum and what the readers need to know (line count, encoding, quotes),
then pyarrow reads CSV in small blocks and Parquet by batches, all columns as text (a careful
csv-module reader takes over, also block by block, when pyarrow cannot read a file or its rows do
not add up to its lines), and each block is appended to a DuckDB staging table. Checking is
vectorised in DuckDB SQL over all new files of a table at once, under ``RAPPORT_INGEST_MEMORY_LIMIT``
(DuckDB spills to disk beyond it), so memory stays bounded whatever the size of the files.

Guarantees:

* Idempotent: each file's SHA-256 is recorded in ``raw._load_ledger``; a file whose checksum is
  there already is skipped, so a rerun loads nothing twice.
* Atomic: a whole run is one transaction. When a file has more than ``max_rejected_share`` of its
  rows rejected, :class:`IngestError` is raised and nothing of the run reaches ``raw`` or the
  ledger. The quarantine rows of the failing file(s) are then written in a separate, committed
  step so the evidence survives; they carry the failed run's ``_load_id``, which is not in the
  ledger, and are replaced (not duplicated) when the file is tried again.
* Private: ``pii="hash"`` columns are stored as ``<name>_hash`` (salted SHA-256, see
  :mod:`rapport.pii`) and ``pii="drop"`` columns are never stored, in ``raw`` and ``quarantine``
  alike; rejection reasons never quote personal values.
* Append-only versions: a table with a ``version_column`` keeps every version of a key (a correction
  is a new row, the older one stays), so the warehouse can answer "what was known at time T"; "the
  newest version wins" is a read-time rule (dbt staging). A copy of a (key, version) already stored,
  or seen earlier in the run in another file, is counted as *resent*: valid, but not stored again.
  Two copies of a (key, version) inside one file, and for unversioned tables any second copy of a
  key, are quarantined with reason "duplicate key".

``_source_line`` is the 1-based physical line in a CSV file (the header is line 1, so the first
data row is line 2); lines end at ``\n`` (or ``\r\n``), and a lone ``\r`` in a file whose lines end
with ``\n`` is a character of its value, quoted or not. For Parquet files it is the 1-based row number.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import os
import re
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rapport.contract import SQL_TYPES, TABLES, TABLES_BY_NAME, Column, Table, missing_source_effects
from rapport.mapping import Mapping, SourceMapping, load_mapping
from rapport.pii import hash_pii_sql, pii_kind
from rapport.settings import get_settings
from rapport.trust.erasure import drop_suppressed_rows
from rapport.warehouse import connect, transaction

LOGGER = logging.getLogger("rapport.ingest")

LEDGER_TABLE = "raw._load_ledger"
LANDING_EXTENSIONS = (".csv", ".parquet")
METADATA_COLUMNS = ("_load_id", "_source_file", "_source_line", "_loaded_at")

_TYPE_NAMES = {
    "integer": "an integer",
    "decimal": "a decimal number",
    "boolean": "a boolean (true/false)",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS)",
}
_TRUE = ("true", "1", "yes", "t", "y")
_FALSE = ("false", "0", "no", "f", "n")
_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_DELIMITERS = (";", "\t", "|")
_MAX_SHOWN_VALUE = 60
_PROGRESS_EVERY_FILES = 1000
_ISSUE = "_issue"
_LINE = "_source_line"
_FILE_ORDER = "_file_order"
_BLOCK_BYTES = 16 << 20  # checksum chunk
_CSV_BLOCK_BYTES = 1 << 20  # pyarrow CSV block: its streaming reader reads many blocks ahead, so keep them small
_SMALL_FILE_BYTES = 8 << 20  # files up to this size are read ahead whole by a worker thread
_STAGE_BATCH_BYTES = 32 << 20  # Arrow bytes appended to the staging table at once
_CAREFUL_BLOCK_ROWS = 50_000
_PARQUET_BATCH_ROWS = 65_536
# what a lone \r in a value is while a file is parsed (a private-use character; a file holding it keeps its \r)
_CR_STANDIN = "\ue000"
_CR_STANDIN_BYTES = _CR_STANDIN.encode("utf-8")
_LONE_CR = re.compile(rb"\r(?!\n)")


class IngestError(RuntimeError):
    """A landing file had too many bad rows: the run was rolled back."""

    def __init__(self, message: str, failures: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class TableLoad:
    """What one run did to one source table.

    ``rows_loaded`` counts the valid rows, resent ones included (valid, but a copy of a version of the
    same key already kept), so the counts do not depend on how files are split across runs.
    """

    files: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_resent: int = 0


@dataclass
class IngestSummary:
    """What one ingest run did, per table; ``as_dict`` is small enough for an Airflow XCom."""

    load_id: str
    landing_dir: str
    files_found: int = 0
    files_skipped: int = 0
    seconds: float = 0.0
    tables: dict[str, TableLoad] = field(default_factory=dict)
    missing_sources: dict[str, str] = field(default_factory=dict)

    @property
    def files_loaded(self) -> int:
        return sum(t.files for t in self.tables.values())

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables.values())

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "load_id": self.load_id,
            "files_found": self.files_found,
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "seconds": round(self.seconds, 2),
            "tables": {name: asdict(load) for name, load in self.tables.items()},
            "missing_sources": self.missing_sources,
        }


# --------------------------------------------------------------------------------------------------
# landing files


def tables_in_load_order(tables: Iterable[Table] = TABLES) -> list[Table]:
    """Source tables ordered so every referenced table (customers first) comes before its referrers."""
    by_name = {t.name: t for t in tables}
    ordered: list[Table] = []
    seen: set[str] = set()

    def visit(table: Table) -> None:
        if table.name in seen:
            return
        seen.add(table.name)
        for column in table.columns:
            if column.references:
                parent = column.references.split(".")[0]
                if parent in by_name and parent != table.name:
                    visit(by_name[parent])
        ordered.append(table)

    if "customers" in by_name:
        visit(by_name["customers"])
    for table in by_name.values():
        visit(table)
    return ordered


def find_landing_files(landing_dir: Path) -> dict[str, list[Path]]:
    """Landing files per source table, sorted by name (so by day); stray folders are logged and ignored."""
    found: dict[str, list[Path]] = {}
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder {landing_dir} does not exist: run `rapport generate` first")
    for folder in sorted(p for p in landing_dir.iterdir() if p.is_dir()):
        if folder.name not in TABLES_BY_NAME:
            LOGGER.warning("ignoring landing folder %s: not a table of the contract", folder)
            continue
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in LANDING_EXTENSIONS)
        for path in files:
            if not re.fullmatch(rf"{folder.name}_\d{{4}}-\d{{2}}-\d{{2}}", path.stem):
                LOGGER.warning("landing file %s is not named %s_<YYYY-MM-DD>%s", path, folder.name, path.suffix)
        found[folder.name] = files
    return found


def _empty_frame(table: Table) -> pa.Table:
    arrays = [pa.array([], pa.string()) for _ in table.columns]
    names = table.column_names
    return pa.table([*arrays, pa.array([], pa.int64()), pa.array([], pa.string())], names=[*names, _LINE, _ISSUE])


def _frame_from_columns(
    table: Table, header: list[str], columns: list[pa.Array], lines: pa.Array, issues: pa.Array
) -> pa.Table:
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, i)
    rows = len(lines)
    arrays = [columns[positions[c]] if c in positions else pa.nulls(rows, pa.string()) for c in table.column_names]
    return pa.table([*arrays, lines, issues], names=[*table.column_names, _LINE, _ISSUE])


def check_header(table: Table, header: list[str]) -> str | None:
    """Why a file with this header cannot be loaded at all, or ``None`` when it can."""
    if len(header) == 1 and len(table.columns) > 1:
        for delimiter in _OTHER_DELIMITERS:
            if delimiter in header[0]:
                return f"{table.name}: file is delimited by {delimiter!r}, expected ','"
    known = set(table.column_names)
    reasons = [f"{table.name}.{name}: unknown column, not in the contract" for name in header if name not in known]
    reasons += [
        f"{table.name}.{c.name}: required column is missing from the file"
        for c in table.columns
        if c.required and c.name not in header
    ]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    reasons += [f"{table.name}.{name}: column appears more than once in the header" for name in duplicated]
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class FileScan:
    """What one pass over a landing file's bytes tells before it is parsed (the file is never held whole)."""

    sha256: str
    lines: int  # physical lines: ended by \n, a last line without one counts too
    blank: bool  # empty or whitespace only
    bom: bool
    quotes: bool  # any '"', so values may span lines
    bad_utf8_line: int | None  # line of the first byte that is not UTF-8
    lone_cr: bool  # a \r not followed by \n, in a file whose lines end with \n: a value's character


def scan_file(path: Path) -> FileScan:
    """SHA-256 and the facts the readers need, reading ``path`` in blocks of ``_BLOCK_BYTES``."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = carriage_returns = crlfs = 0
    blank, quotes, standin = True, False, False
    bad_line: int | None = None
    first = previous = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_BLOCK_BYTES):
            digest.update(chunk)
            if not first:
                first = chunk[:3]
                body = chunk.removeprefix(_UTF8_BOM)
                blank = not body or body.isspace()
            else:
                blank = blank and chunk.isspace()
            quotes = quotes or b'"' in chunk
            if b"\r" in chunk:
                carriage_returns += chunk.count(b"\r")
                crlfs += chunk.count(b"\r\n")
                standin = standin or _CR_STANDIN_BYTES in previous[-2:] + chunk
            crlfs += previous.endswith(b"\r") and chunk.startswith(b"\n")
            pending = len(decoder.getstate()[0])
            if bad_line is None and (pending or not chunk.isascii()):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad_line = newlines + chunk.count(b"\n", 0, max(0, exc.start - pending)) + 1
            newlines += chunk.count(b"\n")
            previous = chunk
    if bad_line is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad_line = newlines + 1
    return FileScan(
        sha256=digest.hexdigest(),
        lines=newlines + (0 if previous.endswith(b"\n") else 1),
        blank=blank,
        bom=first == _UTF8_BOM,
        quotes=quotes,
        bad_utf8_line=bad_line,
        # a file without any \n is read with \r as its line ending; the stand-in must not occur in the file
        lone_cr=carriage_returns > crlfs and newlines > 0 and not standin,
    )


class _CleanedStream(io.RawIOBase):
    """A CSV landing file's bytes as the parsers read them, block by block.

    The BOM is left out, bytes that are not UTF-8 become U+FFFD (when the scan found some), and a
    lone \\r becomes ``_CR_STANDIN`` (when the scan found one), because pyarrow and the csv module
    both end a row at a lone \\r even inside a value; readers turn the stand-in back into \\r.
    """

    def __init__(self, path: Path, scan: FileScan) -> None:
        super().__init__()
        self._handle = path.open("rb")
        if scan.bom:
            self._handle.read(len(_UTF8_BOM))
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace") if scan.bad_utf8_line is not None else None
        self._lone_cr = scan.lone_cr
        self._held = b""
        self._buffer = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()
        super().close()

    def _next_block(self) -> bytes:
        block = self._handle.read(_CSV_BLOCK_BYTES)
        final = not block
        if self._decoder is not None:
            block = self._decoder.decode(block, final=final).encode("utf-8")
        if self._lone_cr:
            block, self._held = self._held + block, b""
            if not final and block.endswith(b"\r"):
                block, self._held = block[:-1], b"\r"
            block = _LONE_CR.sub(_CR_STANDIN_BYTES, block)
        self._eof = final
        return block

    def readinto(self, target) -> int:  # noqa: ANN001 - a writable buffer
        while not self._buffer and not self._eof:
            self._buffer = memoryview(self._next_block())
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _open_cleaned(path: Path, scan: FileScan) -> io.BufferedReader:
    return io.BufferedReader(_CleanedStream(path, scan), buffer_size=1 << 20)


class _NeedsCarefulReader(Exception):
    """pyarrow could not read the file, or its rows do not add up to the file's physical lines."""


def _restore_cr(column: pa.Array, scan: FileScan) -> pa.Array:
    return pc.replace_substring(column, _CR_STANDIN, "\r") if scan.lone_cr else column


def _csv_fast_blocks(path: Path, scan: FileScan, width: int) -> Iterator[tuple[list[pa.Array], pa.Array]]:
    """Columns and line numbers with pyarrow, block by block; raises :class:`_NeedsCarefulReader`."""
    names = [f"f{i}" for i in range(width)]
    line = 2
    clean = (
        scan.bad_utf8_line is None and not scan.lone_cr
    )  # pyarrow reads the file itself (the header, BOM and all, is skipped)
    with _open_cleaned(path, scan) if not clean else nullcontext(str(path)) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=1, use_threads=False, block_size=_CSV_BLOCK_BYTES
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            for batch in reader:
                rows = batch.num_rows
                columns = [_restore_cr(batch.column(i), scan) for i in range(width)]
                if scan.quotes and rows:
                    embedded = np.zeros(rows, dtype=np.int64)
                    for column in columns:
                        embedded += pc.fill_null(pc.count_substring(column, "\n"), 0).to_numpy(zero_copy_only=False)
                    starts = line + np.arange(rows, dtype=np.int64) + np.concatenate(([0], np.cumsum(embedded)[:-1]))
                    line = int(starts[-1] + embedded[-1]) + 1
                else:
                    starts = np.arange(line, line + rows, dtype=np.int64)
                    line += rows
                yield columns, pa.array(starts)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _NeedsCarefulReader(str(exc)) from exc
    if line - 1 != scan.lines:
        raise _NeedsCarefulReader(f"{line - 1} lines parsed, the file has {scan.lines}")


def _csv_careful_blocks(
    table: Table, path: Path, scan: FileScan, width: int
) -> Iterator[tuple[list[pa.Array], pa.Array, pa.Array]]:
    """Row by row with the csv module, in blocks: exact line numbers, malformed rows kept as issues."""

    def block() -> tuple[list[pa.Array], pa.Array, pa.Array]:
        arrays = [_restore_cr(pa.array(column, pa.string()), scan) for column in values]
        return arrays, pa.array(lines, pa.int64()), pa.array(issues, pa.string())

    with io.TextIOWrapper(_open_cleaned(path, scan), encoding="utf-8", errors="replace", newline="") as text:
        reader = csv.reader(text)
        values: list[list[str | None]] = [[] for _ in range(width)]
        lines: list[int] = []
        issues: list[str | None] = []
        previous = 0
        try:
            next(reader, None)
            previous = reader.line_num
            for record in reader:
                start, previous = previous + 1, reader.line_num
                if not record:
                    continue
                lines.append(start)
                if len(record) == width:
                    issues.append(None)
                    for i, value in enumerate(record):
                        values[i].append(value if value != "" else None)
                else:
                    issues.append(
                        f"{table.name}: line {start} has {len(record)} fields, expected {width} "
                        "(truncated, malformed or wrongly delimited row)"
                    )
                    for column in values:
                        column.append(None)
                if len(lines) >= _CAREFUL_BLOCK_ROWS:
                    yield block()
                    values, lines, issues = [[] for _ in range(width)], [], []
        except csv.Error as exc:
            line = previous + 1
            lines.append(line)
            issues.append(f"{table.name}: line {line} cannot be parsed as CSV ({exc}); the rest of the file is unread")
            for column in values:
                column.append(None)
    if lines:
        yield block()


def _read_header(path: Path, scan: FileScan) -> list[str]:
    with _open_cleaned(path, scan) as stream:
        first_line = stream.readline().decode("utf-8").rstrip("\r\n")
    return [name.strip() for name in next(csv.reader([first_line]), [])]


@dataclass
class _FileNote:
    text: str | None = None


def _csv_landing_blocks(table: Table, path: Path, scan: FileScan, note: _FileNote) -> Iterator[pa.Table | None]:
    """A CSV landing file as blocks of text columns of the contract; ``None`` means: drop the blocks so far."""
    if scan.blank:
        note.text = "empty file"
        return
    header = _read_header(path, scan)
    width = len(header)
    header_issue = check_header(table, header)
    missing_optional = [c.name for c in table.columns if not c.required and c.name not in header]
    if missing_optional and not header_issue:
        LOGGER.warning("%s: optional columns %s are missing, loaded as null", table.name, missing_optional)

    def frame(columns: list[pa.Array], lines: pa.Array, issues: pa.Array | None) -> pa.Table:
        rows = len(lines)
        if header_issue:
            issues = pa.array([header_issue] * rows, pa.string())
        elif scan.bad_utf8_line is not None and rows:
            replaced = np.zeros(rows, dtype=bool)
            for column in columns:
                replaced |= pc.fill_null(pc.match_substring(column, "\ufffd"), False).to_numpy(zero_copy_only=False)
            encoding = pa.array(
                [
                    f"{table.name}: line {line} is not valid UTF-8" if bad else None
                    for line, bad in zip(lines.to_pylist(), replaced, strict=True)
                ],
                pa.string(),
            )
            issues = encoding if issues is None else pc.coalesce(encoding, issues)
        elif issues is None:
            issues = pa.nulls(rows, pa.string())
        return _frame_from_columns(table, header, columns, lines, issues)

    rows = 0
    try:
        for columns, lines in _csv_fast_blocks(path, scan, width):
            rows += len(lines)
            yield frame(columns, lines, None)
    except _NeedsCarefulReader as reason:
        LOGGER.debug("%s: read row by row (%s)", path, reason)
        if rows:
            yield None
        rows = 0
        for columns, lines, issues in _csv_careful_blocks(table, path, scan, width):
            rows += len(lines)
            yield frame(columns, lines, issues)
    if rows == 0:
        note.text = "header only" + (f"; {header_issue}" if header_issue else "")
    elif scan.bad_utf8_line is not None:
        note.text = f"not valid UTF-8 from line {scan.bad_utf8_line}"
    elif header_issue:
        note.text = header_issue


def _issue_frame(table: Table, issue: str) -> pa.Table:
    return _frame_from_columns(table, [], [], pa.array([1], pa.int64()), pa.array([issue], pa.string()))


def _parquet_landing_blocks(
    table: Table, path: Path, mapping: SourceMapping | None, note: _FileNote
) -> Iterator[pa.Table | None]:
    """A Parquet landing file as blocks of text columns of the contract (``_source_line`` is the row number)."""
    rows = 0
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        empty = pa.table([pa.array([], pa.string()) for _ in names], names=names)
        header = (mapping.apply(empty) if mapping is not None else empty).column_names
        header_issue = check_header(table, header)
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            parsed = pa.table([pc.cast(column, pa.string()) for column in batch.columns], names=batch.schema.names)
            if mapping is not None:
                parsed = mapping.apply(parsed)
            columns = []
            for i in range(parsed.num_columns):
                column = parsed.column(i).combine_chunks()
                columns.append(pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column))
            count = parsed.num_rows
            lines = pa.array(np.arange(rows + 1, rows + count + 1, dtype=np.int64))
            rows += count
            yield _frame_from_columns(table, header, columns, lines, pa.array([header_issue] * count, pa.string()))
    except (pa.ArrowException, OSError) as exc:
        if rows:
            yield None
        issue = f"{table.name}: unreadable Parquet file ({exc})"
        note.text = issue
        yield _issue_frame(table, issue)
        return
    note.text = "no rows" if rows == 0 else header_issue


def _mapped_to_contract_csv(path: Path, source: SourceMapping, target: Path) -> None:
    """Stream an export in the mapping's layout into a comma-delimited CSV with contract columns."""
    with path.open("rb") as handle:
        first_line = handle.readline().removeprefix(_UTF8_BOM).decode("utf-8").rstrip("\r\n")
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=_CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=source.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name.strip('"'): pa.string() for name in first_line.split(source.delimiter)},
            strings_can_be_null=False,
        ),
    )
    writer = None
    try:
        for batch in reader:
            mapped = source.apply(pa.Table.from_batches([batch]))
            writer = writer or pacsv.CSVWriter(target, mapped.schema)
            writer.write_table(mapped)
        if writer is None:
            pacsv.write_csv(source.apply(reader.schema.empty_table()), target)
    finally:
        if writer is not None:
            writer.close()


def landing_blocks(
    table: Table, path: Path, scan: FileScan, mapping: Mapping | None, note: _FileNote
) -> Iterator[pa.Table | None]:
    """One landing file (CSV or Parquet) as blocks of text columns of the contract, ``_source_line`` and ``_issue``.

    Through the table's mapping if any. A ``None`` block means the reader started over (pyarrow
    gave up half-way and the careful reader takes over): the blocks yielded before it are void.
    """
    source = mapping.for_table(table.name) if mapping else None
    if path.suffix == ".parquet":
        yield from _parquet_landing_blocks(table, path, source, note)
        return
    if source is None:
        yield from _csv_landing_blocks(table, path, scan, note)
        return
    with tempfile.TemporaryDirectory(prefix="rapport-ingest-") as folder:
        contract_csv = Path(folder) / path.name
        try:
            _mapped_to_contract_csv(path, source, contract_csv)
        except pa.ArrowInvalid as exc:
            note.text = f"{table.name}: cannot be read with the mapping of {mapping.path} ({exc})"
            yield _issue_frame(table, note.text)
            return
        yield from _csv_landing_blocks(table, contract_csv, scan_file(contract_csv), note)


def read_landing_file(table: Table, path: Path, mapping: Mapping | None = None) -> tuple[pa.Table, str | None]:
    """One landing file read whole (for small files and tests; ingestion streams :func:`landing_blocks`)."""
    note = _FileNote()
    blocks: list[pa.Table] = []
    for block in landing_blocks(table, path, scan_file(path), mapping, note):
        blocks = [] if block is None else [*blocks, block]
    return (pa.concat_tables(blocks) if blocks else _empty_frame(table)), note.text


# --------------------------------------------------------------------------------------------------
# warehouse tables


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_ingest_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ledger and every ``raw``/``quarantine`` table of the contract when missing."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists quarantine")
    con.execute(
        f"create table if not exists {LEDGER_TABLE} (source_file varchar, sha256 varchar, table_name varchar, "
        "rows_loaded bigint, rows_rejected bigint, loaded_at timestamp, load_id varchar, note varchar)"
    )
    metadata = "_load_id varchar, _source_file varchar, _source_line bigint, _loaded_at timestamp"
    for table in TABLES:
        typed = ", ".join(f"{_quote(c.raw_name)} {SQL_TYPES[c.type]}" for c in table.raw_columns)
        text = ", ".join(f"{_quote(c.raw_name)} varchar" for c in table.raw_columns)
        con.execute(f"create table if not exists raw.{_quote(table.name)} ({typed}, {metadata})")
        con.execute(
            f"create table if not exists quarantine.{_quote(table.name)} ({text}, _reason varchar, "
            "_source_file varchar, _source_line bigint, _load_id varchar, _loaded_at timestamp)"
        )


def missing_sources(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Declared sources with no row in ``raw`` yet, and what the pipeline cannot do without each.

    Only customers and orders are required: every raw table exists (empty when its source never
    landed), so dbt builds on whatever subset a brand has, and this says what that subset disables.
    """
    present = {
        t.name
        for t in TABLES
        if con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?", [t.name]
        ).fetchone()[0]
        and con.execute(f"select exists (select 1 from raw.{_quote(t.name)})").fetchone()[0]
    }
    return missing_source_effects(present)


# --------------------------------------------------------------------------------------------------
# checks, in SQL


def _typed_sql(column: Column, text: str, salt: str) -> str:
    trimmed = f"trim({text})"
    if column.pii == "hash":
        return hash_pii_sql(text, salt, pii_kind(column.name))
    if column.type == "string":
        return text
    if column.type == "integer":
        return f"case when regexp_full_match({trimmed}, '[+-]?[0-9]+') then try_cast({trimmed} as bigint) end"
    if column.type == "decimal":
        number = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?"
        return f"case when regexp_full_match({trimmed}, '{number}') then try_cast({trimmed} as double) end"
    if column.type == "boolean":
        true = ", ".join(map(_sql_string, _TRUE))
        false = ", ".join(map(_sql_string, _FALSE))
        return f"case when lower({trimmed}) in ({true}) then true when lower({trimmed}) in ({false}) then false end"
    if column.type == "date":
        return f"case when regexp_full_match({trimmed}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') then try_cast({trimmed} as date) end"
    if column.type == "timestamp":
        offset = "[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
        return (
            f"case when regexp_matches({trimmed}, '{offset}') "
            f"then timezone('UTC', try_cast({trimmed} as timestamptz)) else try_cast({trimmed} as timestamp) end"
        )
    raise ValueError(f"column {column.name!r} has unknown type {column.type!r}")


def _shown_sql(column: Column, text: str, quoted: bool = True) -> str:
    if column.pii != "none":
        return "'<redacted>'"
    shown = f"left({text}, {_MAX_SHOWN_VALUE})"
    return f"'''' || {shown} || ''''" if quoted else shown


def _reason_sqls(table: Table, column: Column, text: str, typed: str) -> list[str]:
    label = _sql_string(f"{table.name}.{column.name}: ")
    reasons = []
    if column.required:
        reasons.append(f"case when {text} is null then {label} || 'required value is missing' end")
    if column.type != "string":
        reasons.append(
            f"case when {text} is not null and {typed} is null "
            f"then {label} || {_shown_sql(column, text)} || ' is not {_TYPE_NAMES[column.type]}' end"
        )
    if column.enum:
        allowed = ", ".join(map(_sql_string, column.enum))
        reasons.append(
            f"case when {typed} not in ({allowed}) then {label} || {_shown_sql(column, text)} "
            f"|| {_sql_string(' is not one of ' + ', '.join(column.enum))} end"
        )
    if column.min is not None:
        reasons.append(
            f"case when {typed} < {column.min!r} then {label} || {_shown_sql(column, f'trim({text})', quoted=False)} "
            f"|| ' is below minimum {column.min:g}' end"
        )
    if column.max is not None:
        reasons.append(
            f"case when {typed} > {column.max!r} then {label} || {_shown_sql(column, f'trim({text})', quoted=False)} "
            f"|| ' is above maximum {column.max:g}' end"
        )
    if column.references:
        parent, parent_column = column.references.split(".")
        entity = parent_column.removesuffix("_id")
        reasons.append(
            f"case when {typed} is not null and {typed} not in "
            f"(select {_quote(parent_column)} from raw.{_quote(parent)} where {_quote(parent_column)} is not null) "
            f"then {label} || 'unknown {entity} ' || {_shown_sql(column, text)} end"
        )
    return reasons


def _text_name(column: Column) -> str:
    return f"_text__{column.name}"


def _check_rows_sql(table: Table, salt: str) -> str:
    """SQL of the view ``_ingest_checked``: typed columns, original text and the row's reasons."""
    selects = []
    reasons = []
    for column in table.raw_columns:
        text = f"l.{_quote(column.name)}"
        typed = _typed_sql(column, text, salt)
        selects.append(f"{typed} as {_quote(column.raw_name)}")
        selects.append(f"{text} as {_quote(_text_name(column))}")
        reasons += _reason_sqls(table, column, text, typed)
    reason_list = ", ".join(reasons) if reasons else "null"
    return (
        "create or replace temp view _ingest_checked as select "
        f"l.{_FILE_ORDER}, f.source_file as _source_file, l.{_LINE}, "
        f"coalesce(l.{_ISSUE}, nullif(concat_ws('; ', {reason_list}), '')) as _reason, "
        + ", ".join(selects)
        + f" from _ingest_landing as l join _ingest_files as f on f.{_FILE_ORDER} = l.{_FILE_ORDER}"
    )


def _resolve_keys_sql(table: Table) -> str:
    """SQL building ``_ingest_final``: each row's outcome (load, reject, resent) and final reason."""
    keys = [_quote(c) for c in table.key]
    key_label = ",".join(table.key)
    key_shown = " || ''',''' || ".join(f"cast(c.{k} as varchar)" for k in keys)
    duplicate = f"{_sql_string(f'{table.name}.{key_label}: duplicate key ')} || '''' || {key_shown} || ''''"
    on_key = " and ".join(f"o.{k} = c.{k}" for k in keys)
    partition = ", ".join(f"c.{k}" for k in keys)
    order = f"c.{_FILE_ORDER}, c.{_LINE}"
    if table.version_column:
        version = _quote(table.version_column)
        partition += f", c.{version}"
        on_key += f" and o.{version} = c.{version}"
        existing = (
            f"(select {', '.join(keys)}, {version}, min(_source_file) as _old_file "
            f"from raw.{_quote(table.name)} group by all)"
        )
        outcome = (
            "case when c._reason is not null then 'reject' "
            "when c._rank > 1 and c._source_file = c._winner_file then 'reject' "
            "when c._rank > 1 or o._old_file is not null then 'resent' "
            "else 'load' end"
        )
        same_version = _sql_string(f" with the same {table.version_column} (kept line ")
        reason = (
            "case when c._reason is not null then c._reason "
            f"when c._rank > 1 and c._source_file = c._winner_file then {duplicate} || {same_version} "
            "|| c._winner_line || ')' end"
        )
    else:
        existing = f"(select {', '.join(keys)}, _source_file as _old_file, _source_line as _old_line from raw.{_quote(table.name)})"
        outcome = (
            "case when c._reason is not null or c._rank > 1 or o._old_file is not null then 'reject' else 'load' end"
        )
        reason = (
            "case when c._reason is not null then c._reason "
            f"when c._rank > 1 then {duplicate} || ' (first copy in ' || c._winner_file || ' line ' || c._winner_line || ')' "
            f"when o._old_file is not null then {duplicate} || ' (already loaded from ' || o._old_file "
            "|| ' line ' || o._old_line || ')' end"
        )
    window = f"over (partition by c._reason is null, {partition} order by {order})"
    return f"""
        create or replace temp table _ingest_final as
        with ranked as (
            select c.*, row_number() {window} as _rank,
                first_value(c._source_file) {window} as _winner_file,
                first_value(c.{_LINE}) {window} as _winner_line
            from _ingest_checked as c
        )
        select c.* exclude (_reason, _rank, _winner_file, _winner_line), {outcome} as _outcome, {reason} as _reason
        from ranked as c left join {existing} as o on {on_key}
    """


def _quarantine_select_sql(table: Table, salt: str, where: str) -> str:
    columns = []
    for column in table.raw_columns:
        text = _quote(_text_name(column))
        value = hash_pii_sql(text, salt, pii_kind(column.name)) if column.pii == "hash" else text
        columns.append(f"{value} as {_quote(column.raw_name)}")
    return (
        f"select {', '.join(columns)}, _reason, _source_file, {_LINE}, "
        f"$load_id as _load_id, $loaded_at as _loaded_at from _ingest_final where {where} "
        f"order by {_FILE_ORDER}, {_LINE}"
    )


# --------------------------------------------------------------------------------------------------
# one table


@dataclass
class _StagedFile:
    relative: str
    sha256: str
    note: str | None


@dataclass
class _Batch:
    table: Table
    files: list[_StagedFile]
    skipped: int


@dataclass
class _FileRead:
    relative: str
    scan: FileScan
    blocks: list[pa.Table] | None  # read whole (a small file) by a worker; None: to be streamed
    note: _FileNote


def _scan_and_read_small(
    table: Table, path: Path, landing_dir: Path, known: set[str], mapping: Mapping | None
) -> _FileRead:
    scan = scan_file(path)
    read = _FileRead(path.relative_to(landing_dir).as_posix(), scan, None, _FileNote())
    if scan.sha256 not in known and path.stat().st_size <= _SMALL_FILE_BYTES:
        read.blocks = []
        for block in landing_blocks(table, path, scan, mapping, read.note):
            read.blocks = [] if block is None else [*read.blocks, block]
    return read


def _staging_sql(table: Table) -> str:
    columns = ", ".join(f"{_quote(name)} varchar" for name in table.column_names)
    return (
        f"create or replace temp table _ingest_landing ({columns}, {_LINE} bigint, {_ISSUE} varchar, "
        f"{_FILE_ORDER} integer)"
    )


class _Stager:
    """Appends blocks to ``_ingest_landing`` in batches of about ``_STAGE_BATCH_BYTES``: one insert per
    block would cost more than reading a small file.

    Inserts go through a relation, not ``con.register()``: inside a transaction a registered view, and
    the Arrow data it holds, lives on until commit even when unregistered, so nothing would be freed.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.blocks: list[tuple[int, pa.Table]] = []
        self.size = 0

    def add(self, block: pa.Table, order: int) -> None:
        rows = block.num_rows
        self.blocks.append((order, block.append_column(_FILE_ORDER, pa.array(np.full(rows, order, np.int32)))))
        self.size += block.nbytes
        if self.size >= _STAGE_BATCH_BYTES:
            self.flush()

    def drop_file(self, order: int) -> None:
        """Forget what was staged of one file (its reader starts over)."""
        self.blocks = [(o, block) for o, block in self.blocks if o != order]
        self.size = sum(block.nbytes for _, block in self.blocks)
        self.con.execute(f"delete from _ingest_landing where {_FILE_ORDER} = {order:d}")

    def flush(self) -> None:
        if self.blocks:
            self.con.from_arrow(pa.concat_tables([block for _, block in self.blocks])).insert_into("_ingest_landing")
        self.blocks, self.size = [], 0


def stage_new_files(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    paths: list[Path],
    landing_dir: Path,
    known: set[str],
    workers: int,
    mapping: Mapping | None = None,
) -> _Batch:
    """Append the rows of the files of ``table`` whose checksum is not in ``known`` (which gains them) to
    the temp table ``_ingest_landing``, block by block: no file is ever held whole in memory.

    Workers checksum the files and read the small ones ahead (at most ``2 * workers`` files in
    flight); larger files are streamed here, one block at a time.
    """
    con.execute(_staging_sql(table))
    stager = _Stager(con)
    files: list[_StagedFile] = []
    skipped = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[Path, Future[_FileRead]]] = deque()
        remaining = iter(paths)
        for done in range(1, len(paths) + 1):
            while len(pending) < 2 * workers and (path := next(remaining, None)) is not None:
                pending.append((path, pool.submit(_scan_and_read_small, table, path, landing_dir, known, mapping)))
            path, future = pending.popleft()
            read = future.result()
            if read.scan.sha256 in known:
                if any(f.sha256 == read.scan.sha256 for f in files):
                    LOGGER.info("skipping %s: same content as a file already read in this run", read.relative)
                skipped += 1
                continue
            known.add(read.scan.sha256)
            order = len(files)
            blocks = read.blocks
            if blocks is None:
                blocks = landing_blocks(table, path, read.scan, mapping, read.note)
            for block in blocks:
                if block is None:
                    stager.drop_file(order)
                else:
                    stager.add(block, order)
            files.append(_StagedFile(read.relative, read.scan.sha256, read.note.text))
            if read.note.text:
                LOGGER.warning("%s: %s", read.relative, read.note.text)
            if done % _PROGRESS_EVERY_FILES == 0:
                LOGGER.info("%s: read %d/%d files", table.name, done, len(paths))
    stager.flush()
    return _Batch(table, files, skipped)


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: _Batch,
    load_id: str,
    loaded_at: datetime,
    salt: str,
    max_rejected_share: float,
) -> TableLoad:
    table = batch.table
    name = _quote(table.name)
    files = pa.table(
        {
            _FILE_ORDER: pa.array(range(len(batch.files)), pa.int32()),
            "source_file": pa.array([f.relative for f in batch.files], pa.string()),
        }
    )
    params = {"load_id": load_id, "loaded_at": loaded_at}
    con.register("_ingest_files", files)
    try:
        con.execute(_check_rows_sql(table, salt))
        con.execute(_resolve_keys_sql(table))
        drop_suppressed_rows(con, "_ingest_final", (c.raw_name for c in table.raw_columns), salt)
        per_file = con.execute(
            "select _source_file, count(*) filter (where _outcome <> 'reject'), "
            "count(*) filter (where _outcome = 'reject'), count(*) filter (where _outcome = 'resent') "
            "from _ingest_final group by 1"
        ).fetchall()
        counts = {row[0]: row[1:] for row in per_file}
        failing = [
            (file, loaded, rejected)
            for file, (loaded, rejected, _) in counts.items()
            if rejected / (loaded + rejected) > max_rejected_share
        ]
        if failing:
            raise _rejection_error(con, table, failing, max_rejected_share, salt, params)
        con.execute(
            f"delete from quarantine.{name} where _source_file in (select source_file from _ingest_files) "
            f"and _load_id not in (select load_id from {LEDGER_TABLE})"
        )
        con.execute(
            f"insert into quarantine.{name} by name " + _quarantine_select_sql(table, salt, "_outcome = 'reject'"),
            params,
        )
        raw_columns = ", ".join(_quote(c.raw_name) for c in table.raw_columns)
        con.execute(
            f"insert into raw.{name} ({raw_columns}, {', '.join(METADATA_COLUMNS)}) "
            f"select {raw_columns}, $load_id, _source_file, {_LINE}, $loaded_at from _ingest_final "
            "where _outcome = 'load'",
            params,
        )
        ledger_rows = [
            (
                f.relative,
                f.sha256,
                table.name,
                counts.get(f.relative, (0, 0, 0))[0],
                counts.get(f.relative, (0, 0, 0))[1],
                loaded_at,
                load_id,
                f.note,
            )
            for f in batch.files
        ]
        if ledger_rows:
            con.executemany(f"insert into {LEDGER_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)", ledger_rows)
    finally:
        with suppress(duckdb.Error):
            con.unregister("_ingest_files")
    loaded = sum(c[0] for c in counts.values())
    return TableLoad(
        files=len(batch.files),
        rows_loaded=loaded,
        rows_rejected=sum(c[1] for c in counts.values()),
        rows_resent=sum(c[2] for c in counts.values()),
    )


def _rejection_error(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    failing: list[tuple[str, int, int]],
    max_rejected_share: float,
    salt: str,
    params: dict[str, object],
) -> IngestError:
    failures: list[dict[str, object]] = []
    lines = []
    for file, loaded, rejected in sorted(failing):
        total = loaded + rejected
        reasons = con.execute(
            f"select {_LINE}, _reason from _ingest_final where _source_file = ? and _outcome = 'reject' "
            f"order by {_LINE} limit 3",
            [file],
        ).fetchall()
        evidence = con.sql(
            _quarantine_select_sql(table, salt, "_outcome = 'reject' and _source_file = $file"),
            params={**params, "file": file},
        ).to_arrow_table()
        failures.append(
            {"table": table.name, "file": file, "rejected": rejected, "rows": total, "quarantine": evidence}
        )
        shown = "; ".join(f"line {line}: {reason}" for line, reason in reasons)
        lines.append(
            f"{file}: {rejected} of {total} rows rejected (share {rejected / total:.2f}); first reasons: {shown}"
        )
    message = (
        f"ingest rolled back: {len(failing)} {table.name} file(s) over the rejected-share limit "
        f"{max_rejected_share:.2f}:\n  " + "\n  ".join(lines)
    )
    return IngestError(message, failures)


def _keep_rejection_evidence(con: duckdb.DuckDBPyConnection, error: IngestError) -> None:
    """Commit the quarantine rows of the files that failed, replacing those of earlier failed tries."""
    with transaction(con):
        for failure in error.failures:
            table = _quote(str(failure["table"]))
            con.execute(
                f"delete from quarantine.{table} where _source_file = ? "
                f"and _load_id not in (select load_id from {LEDGER_TABLE})",
                [failure["file"]],
            )
            con.register("_ingest_evidence", failure["quarantine"])
            try:
                con.execute(f"insert into quarantine.{table} by name select * from _ingest_evidence")
            finally:
                con.unregister("_ingest_evidence")
            failure.pop("quarantine")


# --------------------------------------------------------------------------------------------------
# the run


def _drop_staging(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """Give back what ingestion held on a caller's connection: its temp tables and memory limit."""
    with suppress(duckdb.Error):
        con.execute("drop view if exists _ingest_checked")
        con.execute("drop table if exists _ingest_landing")
        con.execute("drop table if exists _ingest_final")
        if memory_limit is not None:
            con.execute(f"set memory_limit = {_sql_string(memory_limit)}")


def new_load_id(now: datetime) -> str:
    """A sortable, unique id for one ingest run."""
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def ingest(
    landing_dir: Path | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    max_rejected_share: float = 0.5,
    mapping_file: Path | None = None,
) -> IngestSummary:
    """Load every landing file not yet loaded into raw.*, bad rows to quarantine.*; returns a summary.

    ``mapping_file`` (default: the ``RAPPORT_INGEST_MAPPING`` setting) describes exports shaped
    differently from the contract (see :mod:`rapport.mapping`).
    """
    started = time.perf_counter()
    settings = get_settings()
    landing_dir = Path(landing_dir or settings.landing_dir).resolve()
    mapping_file = mapping_file or settings.ingest_mapping
    mapping = load_mapping(mapping_file) if mapping_file else None
    own_connection = con is None
    con = con or connect()
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    summary = IngestSummary(load_id=new_load_id(loaded_at), landing_dir=str(landing_dir))
    workers = max(1, min(4, os.cpu_count() or 1))
    memory_limit = None
    try:
        found = find_landing_files(landing_dir)
        summary.files_found = sum(len(paths) for paths in found.values())
        con.execute("set enable_progress_bar = false")
        memory_limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        con.execute(f"set memory_limit = {_sql_string(settings.ingest_memory_limit)}")
        ensure_ingest_tables(con)
        known = {row[0] for row in con.execute(f"select sha256 from {LEDGER_TABLE}").fetchall()}
        ordered = [t for t in tables_in_load_order() if found.get(t.name)]
        LOGGER.info(
            "ingest %s: %d files in %d tables under %s", summary.load_id, summary.files_found, len(ordered), landing_dir
        )
        try:
            with transaction(con):
                for i, table in enumerate(ordered, start=1):
                    batch = stage_new_files(con, table, found[table.name], landing_dir, known, workers, mapping)
                    summary.files_skipped += batch.skipped
                    if not batch.files:
                        LOGGER.info(
                            "table %d/%d %s: no new files (%d skipped)", i, len(ordered), table.name, batch.skipped
                        )
                        continue
                    load = _load_batch(con, batch, summary.load_id, loaded_at, settings.pii_salt, max_rejected_share)
                    summary.tables[table.name] = load
                    LOGGER.info(
                        "table %d/%d %s: %d new files (%d skipped), %d rows loaded, %d rejected, %d resent",
                        i,
                        len(ordered),
                        table.name,
                        load.files,
                        batch.skipped,
                        load.rows_loaded,
                        load.rows_rejected,
                        load.rows_resent,
                    )
        except IngestError as error:
            _keep_rejection_evidence(con, error)
            LOGGER.error("%s", error)
            raise
        summary.missing_sources = missing_sources(con)
        for name, effect in summary.missing_sources.items():
            LOGGER.warning("source %s has no data: %s", name, effect)
    finally:
        if own_connection:
            con.close()
        else:
            _drop_staging(con, memory_limit)
    summary.seconds = time.perf_counter() - started
    LOGGER.info(
        "ingest %s done in %.1f s: %d files loaded, %d skipped, %d rows loaded, %d rejected",
        summary.load_id,
        summary.seconds,
        summary.files_loaded,
        summary.files_skipped,
        summary.rows_loaded,
        summary.rows_rejected,
    )
    return summary
