"""Salted hashing of personal data, identical in Python and in DuckDB SQL.

Values are normalised before hashing so the same person hashes the same way across sources:
emails are stripped and lower-cased, phone numbers keep their digits and a leading ``+``, anything
else is stripped. An empty value after normalisation hashes to ``None``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

PiiKind = Literal["email", "phone", "text"]

_WHITESPACE = " \t\n\r\f\v"
_NON_DIGITS = re.compile(r"[^0-9]")
_PHONE_LIKE = re.compile(r"^\s*\+?[0-9\s().\-/]+$")


def pii_kind(column_name: str) -> PiiKind:
    """How a personal column is normalised, from its name."""
    if "email" in column_name:
        return "email"
    if "phone" in column_name:
        return "phone"
    return "text"


def normalise_pii(value: str | None, kind: PiiKind = "text") -> str | None:
    """The canonical form of a personal value, or ``None`` when nothing is left of it."""
    if value is None:
        return None
    text = value.strip(_WHITESPACE)
    if kind == "email":
        text = text.lower()
    elif kind == "phone":
        text = ("+" if text.startswith("+") else "") + _NON_DIGITS.sub("", text)
        if text == "+":
            text = ""
    return text or None


def hash_pii(value: str | None, salt: str, kind: PiiKind | None = None) -> str | None:
    """Salted SHA-256 (hex) of a normalised personal value.

    ``kind`` defaults to a guess from the value: ``email`` when it has an ``@``, ``phone`` when it
    holds only digits, spaces, ``+ ( ) . - /``, ``text`` otherwise.
    """
    if value is None:
        return None
    if kind is None:
        kind = "email" if "@" in value else "phone" if _PHONE_LIKE.match(value) else "text"
    normalised = normalise_pii(value, kind)
    if normalised is None:
        return None
    return hashlib.sha256((salt + normalised).encode("utf-8")).hexdigest()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def hash_pii_sql(expression: str, salt: str, kind: PiiKind) -> str:
    """A DuckDB SQL expression hashing ``expression`` exactly as :func:`hash_pii` does."""
    stripped = f"trim({expression}, {_sql_string(_WHITESPACE)})"
    if kind == "email":
        normalised = f"lower({stripped})"
    elif kind == "phone":
        digits = f"regexp_replace({stripped}, '[^0-9]', '', 'g')"
        normalised = f"(case when starts_with({stripped}, '+') and {digits} <> '' then '+' else '' end || {digits})"
    else:
        normalised = stripped
    return f"sha256({_sql_string(salt)} || nullif({normalised}, ''))"
