"""Only customers and orders are required: a landing folder with just those two is ingested and built by dbt."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from rapport import pipeline, warehouse
from rapport.contract import TABLES
from rapport.ml.features import FEATURES_TABLE, configured_churn_cutoffs

START = date(2024, 11, 1)
AS_OF = date(2026, 3, 1)
REQUIRED = {"customers", "orders"}

pytestmark = pytest.mark.slow  # dbt build + churn training on 400 customers, about two minutes on 2 shared cores


@pytest.fixture(scope="module")
def only_required(module_home):
    pipeline.generate(400, START, (AS_OF - START).days, seed=5)
    landing = module_home / "landing"
    for folder in landing.iterdir():
        if folder.name not in REQUIRED:
            shutil.rmtree(folder)
    return pipeline.ingest()


def test_ingest_says_which_sources_are_missing_and_what_that_disables(only_required):
    assert set(only_required["tables"]) == REQUIRED
    missing = only_required["missing_sources"]
    assert set(missing) == {t.name for t in TABLES} - REQUIRED
    assert "sentiment" in missing["reviews"]
    assert "next-best-offer" in missing["offer_responses"]


def test_every_declared_source_has_a_raw_table_even_when_empty(only_required):
    con = warehouse.connect()
    try:
        counts = {t.name: con.execute(f'select count(*) from raw."{t.name}"').fetchone()[0] for t in TABLES}
    finally:
        con.close()
    assert {name for name, rows in counts.items() if rows} == REQUIRED


def test_dbt_builds_the_customer_dimension_and_churn_features_from_customers_and_orders_alone(only_required):
    pipeline.transform(AS_OF)
    con = warehouse.connect()
    try:
        customers = con.execute("select count(*) from marts.dim_customer").fetchone()[0]
        features = con.execute(
            "select count(*), count(*) filter (where coalesce(has_profiling_consent, false)) "
            f"from {FEATURES_TABLE} where as_of_date in (select unnest(cast(? as date[])))",
            [[c.isoformat() for c in configured_churn_cutoffs(AS_OF).train]],
        ).fetchone()
    finally:
        con.close()
    assert customers == 400
    assert features[0] > 0, "the churn features are built for every training cutoff"
    # Without a consents source nobody has consented to profiling, so churn training has no one to learn
    # from: a privacy default, not a crash (ingest lists consents as missing and says what that withholds).
    assert features[1] == 0
    with pytest.raises(ValueError, match="no training"):
        pipeline.train("churn", AS_OF)
