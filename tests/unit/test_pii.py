import hashlib

import duckdb
import pytest

from rapport.pii import hash_pii, hash_pii_sql, normalise_pii


def test_hash_is_salted_sha256_of_the_normalised_value():
    expected = hashlib.sha256(b"salt" + b"alice@example.com").hexdigest()
    assert hash_pii("  Alice@Example.COM \n", "salt") == expected
    assert hash_pii("alice@example.com", "other-salt") != expected


@pytest.mark.parametrize(
    ("value", "kind", "normalised"),
    [
        (" Bob@Mail.org ", "email", "bob@mail.org"),
        ("+33 (0)6 12-34", "phone", "+33061234"),
        ("06 12 34", "phone", "061234"),
        ("  Jane ", "text", "Jane"),
        ("   ", "text", None),
        ("+", "phone", None),
        (None, "email", None),
    ],
)
def test_normalise(value, kind, normalised):
    assert normalise_pii(value, kind) == normalised


def test_missing_values_hash_to_none():
    assert hash_pii(None, "salt") is None
    assert hash_pii("  ", "salt") is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (" Alice@Example.COM\t", "email"),
        ("+33 6 12 34 56 78", "phone"),
        ("0033-612", "phone"),
        ("  Rue d'Été 3 ", "text"),
        ("", "email"),
        (None, "phone"),
    ],
)
def test_sql_hash_matches_python(value, kind):
    expression = hash_pii_sql("v", "s'alt", kind)
    with duckdb.connect() as con:
        (from_sql,) = con.execute(f"select {expression} from (select ?::varchar as v)", [value]).fetchone()
    assert from_sql == hash_pii(value, "s'alt", kind)
