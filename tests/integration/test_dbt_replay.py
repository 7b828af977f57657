"""Replaying history: a build as of an earlier date D, run after later data arrived, gives D's numbers.

Landing files are daily, so "what was known on D" is every file dated before D. The test loads only
those, builds as of D and keeps customer_360 and segment_health; then loads the rest, builds as of a
later date (which moves the incremental models and the history forward), rebuilds as of D and
compares. Any leak of later data (a late order version, a later login, a later score) shows as a diff.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rapport.ingest import ingest
from rapport.settings import get_settings
from rapport.simulate import generate
from rapport.transform import CORE_SELECTOR, SCORE_MARTS_SELECTOR, build

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = date(2026, 3, 1)
DAYS = 245  # through 2026-10-31
REPLAY_AS_OF = date(2026, 9, 1)
LATER_AS_OF = date(2026, 11, 1)


def file_date(path: Path) -> date:
    """Landing files are named ``<table>_<YYYY-MM-DD>.<ext>`` after the day their rows were written."""
    return date.fromisoformat(path.name.split("_")[-1].split(".")[0])


def copy_landing(source: Path, target: Path, keep) -> int:
    copied = 0
    for path in sorted(source.rglob("*_*-*-*.*")):
        if path.is_file() and keep(file_date(path)):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            copied += 1
    return copied


def write_scores(as_of: date) -> None:
    """Churn scores for ``as_of`` as the model would write them: the replay must read these, not later ones."""
    con = duckdb.connect(str(get_settings().warehouse_path))
    try:
        from rapport.scores import ensure_score_tables

        ensure_score_tables(con)
        con.execute(
            """
            insert into ml.churn_scores by name
            select customer_id, ? as as_of_date, 'rapport-churn' as model_name, '1' as model_version,
                   'run-replay' as scoring_run_id, ? as scored_at,
                   (hash(customer_id || ?) % 1000) / 1000.0 as churn_probability, 'medium' as risk_band
            from marts.dim_customer
            """,
            [as_of, datetime.combine(as_of, datetime.min.time()) + timedelta(hours=6), as_of.isoformat()],
        )
    finally:
        con.close()


def build_as_of(as_of: date) -> None:
    build(as_of, selector=CORE_SELECTOR)
    write_scores(as_of)
    build(as_of, selector=SCORE_MARTS_SELECTOR)


def snapshot(as_of: date) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(get_settings().warehouse_path), read_only=True)
    try:
        customers = con.execute("select * from marts.customer_360 order by customer_id").df()
        segments = con.execute(
            "select * from marts.segment_health where as_of_date = ? order by segment_type, segment", [as_of]
        ).df()
    finally:
        con.close()
    return {"customer_360": customers, "segment_health": segments}


@pytest.fixture(scope="module")
def replayed(module_home, tmp_path_factory):
    everything = tmp_path_factory.mktemp("all_landing")
    generate(everything, customers=150, start=START, days=DAYS, seed=7)
    landing = get_settings().landing_dir
    assert copy_landing(everything, landing, lambda day: day < REPLAY_AS_OF) > 0
    ingest()
    build_as_of(REPLAY_AS_OF)
    when_current = snapshot(REPLAY_AS_OF)
    assert copy_landing(everything, landing, lambda day: day >= REPLAY_AS_OF) > 0
    ingest()
    build_as_of(LATER_AS_OF)
    later = snapshot(LATER_AS_OF)
    build(REPLAY_AS_OF, selector=CORE_SELECTOR)
    build(REPLAY_AS_OF, selector=SCORE_MARTS_SELECTOR)  # the scores of REPLAY_AS_OF are still there
    return when_current, snapshot(REPLAY_AS_OF), later


def test_replayed_customer_360_equals_the_build_when_it_was_current(replayed):
    when_current, replay, later = replayed
    assert len(later["customer_360"]) > len(when_current["customer_360"])  # later data did arrive
    assert len(when_current["customer_360"]) > 50
    pd.testing.assert_frame_equal(replay["customer_360"], when_current["customer_360"], check_exact=False, rtol=1e-9)


def test_replayed_segment_health_equals_the_build_when_it_was_current(replayed):
    when_current, replay, _ = replayed
    assert len(when_current["segment_health"]) > 10
    pd.testing.assert_frame_equal(
        replay["segment_health"], when_current["segment_health"], check_exact=False, rtol=1e-9
    )
