"""Publishing to the machine's real Postgres: the serving schema swaps atomically and the BI role only reads it.

A throw-away database and BI role are created for the module and dropped after it.
"""

from __future__ import annotations

import uuid
from datetime import date

import psycopg
import pytest

from rapport import publish, warehouse

pytestmark = [pytest.mark.integration]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SUFFIX = uuid.uuid4().hex[:8]
DATABASE = f"rapport_publish_test_{SUFFIX}"
BI_ROLE = f"rapport_bi_test_{SUFFIX}"


@pytest.fixture(scope="module")
def serving_url():
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"Postgres at {ADMIN_URL} is required for this test: {exc}")
    admin.execute(f'create database "{DATABASE}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("create schema private")
        pg.execute("create table private.secrets (value text)")
        pg.execute("insert into private.secrets values ('not for BI')")
    yield url
    admin.execute(f'drop database if exists "{DATABASE}" with (force)')
    admin.execute(f'drop role if exists "{BI_ROLE}"')
    admin.close()


@pytest.fixture
def home(tmp_path, monkeypatch, serving_url):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.setenv("RAPPORT_SERVING_URL", serving_url)
    monkeypatch.setenv("RAPPORT_BI_ROLE", BI_ROLE)
    monkeypatch.delenv("RAPPORT_SERVING_PATH", raising=False)
    con = warehouse.connect()
    try:
        con.execute(
            "create table marts.customer_360 as select 'C' || i as customer_id, i * 1.5 as monetary_365d, "
            "date '2026-11-01' as as_of_date, i % 2 = 0 as has_marketing_consent, [i, i] as pair "
            "from range(200) t(i)"
        )
        con.execute(
            "insert into ml.churn_scores (customer_id, churn_probability, risk_band, as_of_date, model_name) "
            "select 'C' || i, i / 200, 'low', date '2026-11-01', 'rapport-churn' from range(200) t(i)"
        )
    finally:
        con.close()
    return tmp_path


def bi_connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql://postgres@", f"postgresql://{BI_ROLE}@"), autocommit=True)


def test_bi_tables_land_in_the_serving_schema_with_their_rows_and_types(home, serving_url):
    result = publish.publish()

    assert result["postgres"]["tables"] == {"marts.customer_360": 200, "ml.churn_scores": 200} | {
        t: 0 for t in result["tables"] if t not in ("marts.customer_360", "ml.churn_scores")
    }
    with bi_connect(serving_url) as bi:
        total, first_day, consenting = bi.execute(
            "select sum(monetary_365d), min(as_of_date), count(*) filter (where has_marketing_consent) "
            "from serving.customer_360"
        ).fetchone()
        assert (total, first_day, consenting) == (pytest.approx(29850.0), date(2026, 11, 1), 100)
        assert bi.execute("select pair from serving.customer_360 where customer_id = 'C3'").fetchone() == ("[3, 3]",)


def test_bi_role_reads_serving_only_and_cannot_write(home, serving_url):
    publish.publish()
    with bi_connect(serving_url) as bi:
        assert bi.execute("select count(*) from serving.churn_scores").fetchone() == (200,)
        for statement in (
            "insert into serving.churn_scores (customer_id) values ('X')",
            "delete from serving.customer_360",
            "create table serving.mine (x int)",
            "select * from private.secrets",
        ):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                bi.execute(statement)


def test_republishing_swaps_the_schema_in_one_transaction(home, serving_url):
    publish.publish()
    with bi_connect(serving_url) as reader:
        reader.autocommit = False
        before = reader.execute("select count(*) from serving.churn_scores").fetchone()
        reader.rollback()
        con = warehouse.connect()
        con.execute("delete from ml.churn_scores where customer_id >= 'C5'")
        con.close()
        publish.publish()
        after = reader.execute("select count(*) from serving.churn_scores").fetchone()
        reader.rollback()
    assert before == (200,)
    assert after[0] < 200
    with psycopg.connect(serving_url) as admin:
        schemas = {r[0] for r in admin.execute("select nspname from pg_namespace where nspname like 'serving%'")}
    assert schemas == {"serving"}  # no incoming/previous schema left behind


def test_a_failed_publish_leaves_the_previous_serving_schema(home, serving_url, monkeypatch):
    publish.publish()

    def fail_halfway(pg, con, qualified, schema):
        if qualified == "ml.churn_scores":
            raise RuntimeError("connection lost halfway")
        return original(pg, con, qualified, schema)

    original = publish._load_table
    monkeypatch.setattr(publish, "_load_table", fail_halfway)
    with pytest.raises(RuntimeError, match="halfway"):
        publish.publish()
    with bi_connect(serving_url) as bi:
        assert bi.execute("select count(*) from serving.churn_scores").fetchone() == (200,)


def test_the_url_password_never_reaches_the_result_or_logs():
    secret = uuid.uuid4().hex
    assert (
        publish.redact_url(f"postgresql://admin:{secret}@db:5432/rapport") == "postgresql://admin:***@db:5432/rapport"
    )
    assert publish.redact_url("postgresql://admin@db/rapport") == "postgresql://admin@db/rapport"
