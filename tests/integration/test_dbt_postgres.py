"""The dbt project on a second adapter: dbt-postgres on the machine's Postgres gives the DuckDB warehouse's numbers.

The shared pipeline run's warehouse (500 simulated customers, scored by the champions) is copied into a
throw-away Postgres database with rapport.warehouse_postgres; the same models and data tests then run
there with ``RAPPORT_DBT_TARGET=postgres``, and every column of customer_360 and segment_health must equal
the DuckDB build's.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid

import duckdb
import psycopg
import pytest

from rapport.settings import get_settings
from rapport.transform import CORE_SELECTOR, SCORE_MARTS_SELECTOR, run_dbt
from rapport.warehouse_postgres import copy_sources, postgres_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = f"rapport_dbt_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def postgres_build(pipeline_run, tmp_path_factory):
    """Copy raw.* and ml.* of the pipeline's warehouse to Postgres and build ``core`` then the score marts there.

    dbt runs in a home of its own (its target folder must not replace the pipeline's manifest), reading
    the pipeline's warehouse file only to copy it. Yields (url, copied rows, dbt node results).
    """
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"Postgres at {ADMIN_URL} is required for this test: {exc}")
    admin.execute(f'create database "{DATABASE}"')
    warehouse_path = get_settings().warehouse_path
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAPPORT_HOME", str(tmp_path_factory.mktemp("postgres_home")))
            patch.setenv("RAPPORT_WAREHOUSE", str(warehouse_path))
            patch.setenv("RAPPORT_DBT_TARGET", "postgres")
            patch.setenv("RAPPORT_PG_DATABASE", DATABASE)
            url = postgres_url()
            copied = copy_sources()
            as_of = pipeline_run["as_of"]
            nodes = run_dbt(["build", "--selector", CORE_SELECTOR], as_of).node_results
            nodes += run_dbt(["build", "--selector", SCORE_MARTS_SELECTOR], as_of).node_results
        yield url, copied, nodes
    finally:
        admin.execute(f'drop database if exists "{DATABASE}" with (force)')
        admin.close()


def canonical(value):
    """One comparable form for both drivers: numbers as floats, dates and times as ISO text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return float(value)
    return value


def same_value(duck, pg) -> bool:
    """Equal, where numbers may differ in their last bits only.

    The two engines add a column's values up in different orders, so a sum or an average may differ by
    an ulp or two (100.61281249999 against 100.61281250001); rounding both to fixed digits would turn
    such a pair into a visible difference whenever it straddles a rounding tie, so floats compare with a
    relative tolerance of 1e-9 instead.
    """
    if isinstance(duck, float) and isinstance(pg, float):
        return math.isclose(duck, pg, rel_tol=1e-9, abs_tol=1e-12)
    return duck == pg


def rows_of(cursor) -> tuple[list[str], list[tuple]]:
    columns = [d[0] if isinstance(d, tuple) else d.name for d in cursor.description]
    rows = [tuple(canonical(v) for v in row) for row in cursor.fetchall()]
    return columns, sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def duckdb_rows(sql: str) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect(str(get_settings().warehouse_path), read_only=True)
    try:
        return rows_of(con.execute(sql))
    finally:
        con.close()


def postgres_rows(url: str, sql: str) -> tuple[list[str], list[tuple]]:
    with psycopg.connect(url) as pg:
        return rows_of(pg.execute(sql))


def test_sources_are_copied_with_every_row(postgres_build):
    url, copied, _ = postgres_build
    assert {"raw.customers", "raw.orders", "ml.churn_scores", "ml.review_sentiment"} <= set(copied["tables"])
    con = duckdb.connect(str(get_settings().warehouse_path), read_only=True)
    try:
        in_duckdb = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in copied["tables"]}
    finally:
        con.close()
    assert copied["tables"] == in_duckdb
    assert copied["tables"]["raw.orders"] > 100


def test_every_model_and_data_test_passes_on_postgres(postgres_build):
    _, _, nodes = postgres_build
    models = [n for n in nodes if n["resource_type"] == "model"]
    tests = [n for n in nodes if n["resource_type"] == "test"]
    assert len(models) >= 35 and len(tests) > 50
    assert {n["status"] for n in models} == {"success"}
    assert not [n["unique_id"] for n in tests if n["status"] not in ("pass", "warn")]


def test_models_land_in_the_layer_schemas(postgres_build):
    url, _, _ = postgres_build
    _, found = postgres_rows(
        url,
        "select table_schema, table_name from information_schema.tables "
        "where table_name in ('stg_shop__customers', 'int_touchpoints', 'customer_360', 'segment_health')",
    )
    assert found == [
        ("intermediate", "int_touchpoints"),
        ("marts", "customer_360"),
        ("marts", "segment_health"),
        ("staging", "stg_shop__customers"),
    ]


@pytest.mark.parametrize("table", ["marts.customer_360", "marts.segment_health"])
def test_marts_equal_the_duckdb_build(postgres_build, table):
    url, _, _ = postgres_build
    duck_columns, duck = duckdb_rows(f"select * from {table}")
    pg_columns, pg = postgres_rows(url, f"select * from {table}")
    assert pg_columns == duck_columns
    assert len(pg) == len(duck) > 10
    mismatched = [(d, p) for d, p in zip(duck, pg, strict=True) if not all(map(same_value, d, p))]
    assert not mismatched, [
        {c: (dv, pv) for c, dv, pv in zip(duck_columns, d, p, strict=True) if not same_value(dv, pv)}
        for d, p in mismatched[:3]
    ]
