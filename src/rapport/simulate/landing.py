"""Landing text, built without a Python object per value, and daily landing files appended block by block.

Simulated columns are NumPy fixed-width byte arrays (``dtype='S<n>'``), formatted by integer arithmetic
on ASCII codes, so a million customers' rows never become Python strings. Digits beyond a number's
own width are NUL bytes, which :func:`to_text` removes when the column becomes Arrow text. Free text
(review bodies, in Unicode) stays a NumPy object array.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rapport.contract import Table

SECONDS_PER_DAY = 86_400
_ZERO = ord("0")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NEEDS_QUOTES = '[,"\r\n]'
_SPECIAL = np.frombuffer(b',"\r\n', dtype=np.uint8)


def digits(numbers: np.ndarray, width: int = 1, prefix: bytes = b"") -> np.ndarray:
    """``prefix`` + each number zero-padded to ``width`` digits (wider numbers keep all their digits)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and numbers.min() < 0:
        raise ValueError("digits() formats non-negative integers only")
    largest = int(numbers.max()) if len(numbers) else 0
    total = max(width, len(str(largest)))
    remaining = numbers.astype(np.uint32 if largest < 2**32 else np.uint64)
    codes = np.empty((len(numbers), total), dtype=np.uint8)
    for position in range(total - 1, -1, -1):
        remaining, digit = np.divmod(remaining, 10)
        codes[:, position] = digit + _ZERO
    for position in range(total - width):
        codes[numbers < 10 ** (total - position - 1), position] = 0
    head = np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (len(numbers), len(prefix)))
    return _as_bytes(np.concatenate([head, codes], axis=1))


def hex_ids(prefix: bytes, values: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + each value as ``width`` lower-case hex digits."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (np.asarray(values, dtype=np.uint64)[:, None] >> shifts) & np.uint64(15)
    head = np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (len(values), len(prefix)))
    return _as_bytes(np.concatenate([head, _HEX[nibbles.astype(np.int64)]], axis=1))


def _as_bytes(codes: np.ndarray) -> np.ndarray:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    return codes.view(f"S{max(codes.shape[1], 1)}").ravel() if codes.shape[1] else np.full(len(codes), b"", "S1")


def join(*parts: np.ndarray | bytes) -> np.ndarray:
    """Element-wise concatenation of byte arrays and byte literals."""
    result = parts[0]
    for part in parts[1:]:
        result = np.char.add(result, part)
    return np.asarray(result)


def labels(names: tuple[str, ...] | list[str]) -> np.ndarray:
    """A lookup table of names, to index with codes: ``labels(CHANNELS)[codes]``."""
    return np.array([name.encode("utf-8") for name in names], dtype="S")


class Clock:
    """Turns seconds since the simulation's first midnight (UTC) into landing timestamps and days."""

    def __init__(self, start: date, first_day: int, last_day: int) -> None:
        self.start = start
        self.first_day = first_day
        day_names = [(start + timedelta(days=d)).isoformat() + " " for d in range(first_day, last_day + 1)]
        self._days = np.frombuffer("".join(day_names).encode(), dtype=np.uint8).reshape(-1, 11)
        seconds = np.arange(SECONDS_PER_DAY)
        hms = np.stack([seconds // 3600, seconds % 3600 // 60, seconds % 60], axis=1)
        codes = np.stack([hms // 10, hms % 10], axis=2).reshape(-1, 6) + _ZERO
        self._hms = np.insert(codes, [2, 4], ord(":"), axis=1).astype(np.uint8)

    def day_name(self, day: int) -> str:
        return (self.start + timedelta(days=int(day))).isoformat()

    def timestamps(self, seconds: np.ndarray) -> np.ndarray:
        """``YYYY-MM-DD HH:MM:SS`` byte strings."""
        seconds = np.asarray(seconds, dtype=np.int64)
        day = self._days[seconds // SECONDS_PER_DAY - self.first_day]
        return _as_bytes(np.concatenate([day, self._hms[seconds % SECONDS_PER_DAY]], axis=1))


def format_money(values: np.ndarray) -> np.ndarray:
    """Amounts with two decimals (``12.50``); amounts are never negative."""
    cents = np.rint(np.round(np.asarray(values, dtype=float), 2) * 100).astype(np.int64)
    return join(digits(cents // 100), b".", digits(cents % 100, 2))


def format_ints(values: np.ndarray) -> np.ndarray:
    return digits(np.asarray(values, dtype=np.int64))


def format_bools(values: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(values, dtype=bool), b"true", b"false")


def make_ids(prefix: str, count: int, width: int, first: int = 1) -> np.ndarray:
    """``count`` sequential ids from ``first``: ``make_ids('C', 2, 6)`` gives C000001, C000002."""
    return digits(np.arange(first, first + count, dtype=np.int64), width, prefix.encode())


@dataclass
class IdSequence:
    """The next free number per id prefix, so ids stay unique when customers are simulated in blocks."""

    next_number: dict[str, int] = field(default_factory=dict)

    def take(self, prefix: str, count: int, width: int) -> np.ndarray:
        first = self.next_number.get(prefix, 1)
        self.next_number[prefix] = first + count
        return make_ids(prefix, count, width, first)


def _literal(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _codes(values: np.ndarray) -> np.ndarray:
    """A byte-string column as a (rows, width) matrix of byte codes, NUL where a value is shorter."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint8).reshape(len(values), values.dtype.itemsize)


def _needs_quotes(codes: np.ndarray) -> bool:
    return bool(np.isin(codes, _SPECIAL).any())


def to_text(values: np.ndarray) -> pa.Array:
    """A simulated column as Arrow text: NUL padding removed, quoted the way the csv module quotes."""
    if values.dtype.kind == "S":
        codes = _codes(values)
        kept = codes != 0
        offsets = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int64)
        text = pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(codes[kept]))
    else:
        text = pa.array(values, pa.large_string())
    text = pc.fill_null(text, "")
    needs = pc.match_substring_regex(text, _NEEDS_QUOTES)
    if pc.any(needs).as_py():
        quote = _literal('"')
        quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, _literal(""))
        text = pc.if_else(needs, quoted, text)
    return text


def csv_lines(table: Table, columns: dict[str, np.ndarray]) -> tuple[memoryview, np.ndarray]:
    """Every row as one CSV line: the bytes of all lines and the byte offset where each line starts (+ the end).

    Byte-string columns without characters to quote are laid side by side as byte matrices with comma
    and newline columns between them, and the NUL padding is dropped in one pass; anything else (free
    text, quoting) goes through Arrow.
    """
    values = [np.asarray(columns[name]) for name in table.column_names]
    if all(v.dtype.kind == "S" for v in values):
        matrices = [_codes(v) for v in values]
        if not any(_needs_quotes(m) for m in matrices):
            rows = len(values[0])
            comma, newline = np.full((rows, 1), ord(","), np.uint8), np.full((rows, 1), ord("\n"), np.uint8)
            parts = [part for m in matrices for part in (m, comma)]
            parts[-1] = newline
            matrix = np.concatenate(parts, axis=1)
            kept = matrix != 0
            offsets = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int64)
            return memoryview(matrix[kept]), offsets
    texts = [to_text(v) for v in values]
    lines = pc.binary_join_element_wise(*texts, _literal(",")) if len(texts) > 1 else texts[0]
    lines = pc.binary_join_element_wise(lines, _literal("\n"), _literal(""))
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    start = int(offsets[0])
    return memoryview(lines.buffers()[2])[start : int(offsets[-1])], offsets - start


@dataclass
class LandingWriter:
    """Appends rows to one CSV file per table and day, block after block; the header goes in once per file."""

    folder: Path
    clock: Clock
    started: set[str] = field(default_factory=set)

    def path(self, table: Table, day: int) -> str:
        return f"{self.folder}/{table.name}/{table.name}_{self.clock.day_name(day)}.csv"

    def write(self, table: Table, columns: dict[str, np.ndarray], days: np.ndarray) -> int:
        """Append ``columns`` (contract order, b'' for null) to the files of their days; returns rows written."""
        missing = [name for name in table.column_names if name not in columns]
        if missing:
            raise ValueError(f"simulated {table.name} lacks contract columns {missing}")
        count = len(days)
        if count == 0:
            return 0
        order = np.argsort(days, kind="stable")
        days = np.asarray(days)[order]
        data, offsets = csv_lines(table, {name: np.asarray(columns[name])[order] for name in table.column_names})
        header = (",".join(table.column_names) + "\n").encode()
        (self.folder / table.name).mkdir(parents=True, exist_ok=True)
        bounds = np.flatnonzero(np.diff(days)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, count], strict=True):
            path = self.path(table, days[lo])
            with open(path, "ab") as handle:
                if path not in self.started:
                    self.started.add(path)
                    handle.write(header)
                handle.write(data[offsets[lo] : offsets[hi]])
        return count


def csv_to_parquet(path: Path | str) -> Path:
    """Rewrite one landing CSV as Parquet with the same stem: every column text, '' kept as ''."""
    with open(path, encoding="utf-8", newline="") as handle:
        names = next(csv.reader(handle))
    parsed = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False),
    )
    path = Path(path)
    target = path.with_suffix(".parquet")
    pq.write_table(parsed, target)
    path.unlink()
    return target
