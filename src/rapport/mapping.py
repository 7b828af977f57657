"""Mapping files: how a brand's own exports become contract-shaped landing rows, applied at ingestion.

A brand rarely exports exactly the columns of :mod:`rapport.contract`. Instead of a conversion
script per brand, a YAML mapping says, per source table, how its files differ::

    sources:
      customers:
        delimiter: ";"                      # default ","
        columns: {KundenNr: customer_id, Mail: email}   # export column -> contract column
        values: {gender: {F: female, M: male}}          # per contract column: export value -> contract value
        date_formats: {signup_at: "%d.%m.%Y %H:%M"}     # strptime format of a date or timestamp column

The files still land in ``<landing>/<table>/<table>_<YYYY-MM-DD>.<csv|parquet>``. Columns the
mapping does not name keep their name; values it does not map stay as they are, so anything still
wrong is quarantined by the usual contract checks with its file, line and reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from rapport.contract import TABLES_BY_NAME, Table

_ISO_FORMATS = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%d %H:%M:%S"}
_KEYS = {"delimiter", "columns", "values", "date_formats"}


class MappingError(ValueError):
    """A mapping file that cannot be applied; the message names the file and the entry."""


@dataclass(frozen=True)
class SourceMapping:
    """How one source table's export differs from the contract."""

    table: Table
    delimiter: str = ","
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)

    def apply(self, frame: pa.Table) -> pa.Table:
        """Rename columns, map values and rewrite dates as ISO text; unparsable dates stay as they were."""
        frame = frame.rename_columns([self.columns.get(name, name) for name in frame.column_names])
        for name, mapping in self.values.items():
            if name in frame.column_names:
                frame = _replace(frame, name, _map_values(frame.column(name), mapping))
        for name, fmt in self.date_formats.items():
            if name in frame.column_names:
                kind = self.table.column(name).type
                frame = _replace(frame, name, _reformat_dates(frame.column(name), fmt, _ISO_FORMATS[kind]))
        return frame

    def to_contract_csv(self, data: bytes) -> bytes:
        """One export file (CSV in this mapping's delimiter) as a comma-delimited CSV with contract columns."""
        frame = read_text_csv(data, self.delimiter)
        buffer = io.BytesIO()
        pacsv.write_csv(self.apply(frame), buffer)
        return buffer.getvalue()


@dataclass(frozen=True)
class Mapping:
    """Every source's mapping, read from one YAML file."""

    path: Path
    sources: dict[str, SourceMapping]

    def for_table(self, name: str) -> SourceMapping | None:
        return self.sources.get(name)


def read_text_csv(data: bytes, delimiter: str) -> pa.Table:
    """A CSV file with every column read as text, '' kept as ''."""
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=_all_text(data, delimiter), strings_can_be_null=False),
    )


def _all_text(data: bytes, delimiter: str) -> dict[str, pa.DataType]:
    header = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    return {name.strip('"'): pa.string() for name in header.split(delimiter)}


def _replace(frame: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return frame.set_column(frame.column_names.index(name), name, column)


def _map_values(column: pa.ChunkedArray, mapping: dict[str, str]) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    source = pa.array(list(mapping), pa.string())
    target = pa.array(list(mapping.values()), pa.string())
    found = pc.index_in(column, value_set=source)
    return pc.if_else(pc.is_null(found), column, pc.take(target, found))


def _reformat_dates(column: pa.ChunkedArray, fmt: str, iso: str) -> pa.Array:
    """ISO text where the value reads back identically in ``fmt`` (so 31.02. is not rolled into March)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    parsed = pc.strptime(column, format=fmt, unit="s", error_is_null=True)
    valid = pc.fill_null(pc.equal(pc.strftime(parsed, format=fmt), column), False)
    return pc.if_else(valid, pc.strftime(parsed, format=iso), column)


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file: every source, column and date column must exist in the contract."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"mapping file {path}: cannot be read ({exc})") from exc
    if not isinstance(document.get("sources"), dict):
        raise MappingError(f"mapping file {path}: expected a top-level 'sources:' with one entry per source table")
    sources = {}
    for name, entry in document["sources"].items():
        where = f"mapping file {path}, sources.{name}"
        if name not in TABLES_BY_NAME:
            raise MappingError(f"{where}: not a source table of the contract ({', '.join(sorted(TABLES_BY_NAME))})")
        entry = entry or {}
        unknown = set(entry) - _KEYS
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        table = TABLES_BY_NAME[name]
        source = SourceMapping(
            table=table,
            delimiter=str(entry.get("delimiter", ",")),
            columns={str(k): str(v) for k, v in (entry.get("columns") or {}).items()},
            values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in (entry.get("values") or {}).items()},
            date_formats={str(k): str(v) for k, v in (entry.get("date_formats") or {}).items()},
        )
        _check_source(table, source, where)
        sources[name] = source
    return Mapping(path, sources)


def _check_source(table: Table, source: SourceMapping, where: str) -> None:
    known = set(table.column_names)
    for target in source.columns.values():
        if target not in known:
            raise MappingError(f"{where}.columns: {target!r} is not a column of {table.name}")
    for name in source.values:
        if name not in known:
            raise MappingError(f"{where}.values: {name!r} is not a column of {table.name}")
    for name in source.date_formats:
        if name not in known or table.column(name).type not in _ISO_FORMATS:
            raise MappingError(f"{where}.date_formats: {name!r} is not a date or timestamp column of {table.name}")
    if len(source.delimiter) != 1:
        raise MappingError(f"{where}.delimiter: must be one character, got {source.delimiter!r}")
