"""Great Expectations gates run end to end on small hand-built DuckDB warehouses."""

from __future__ import annotations

import filecmp
import hashlib
import time
from pathlib import Path

import duckdb
import pytest

from rapport import quality

pytestmark = pytest.mark.slow

ORDERS_SQL = """
create table raw.orders as
select
    'o' || i as order_id,
    'c' || (i % 3) as customer_id,
    timestamp '2024-01-01' + i * interval 1 day as ordered_at,
    'web' as channel,
    null::varchar as store_id,
    (10 * i + 5)::decimal(12, 2) as order_total,
    0::decimal(12, 2) as discount_amount,
    'completed' as status,
    null::varchar as offer_id,
    timestamp '2024-02-01' as updated_at
from range(6) t(i)
"""


def _warehouse(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema raw; create schema marts")
    con.execute(ORDERS_SQL)
    con.execute("create table raw.customers as select 'c' || i as customer_id from range(3) t(i)")
    con.execute(
        "create table marts.customer_360 as select 'c' || i as customer_id, date '2024-03-01' as as_of_date, "
        "i * 10 as recency_days, 1 + i as frequency_365d, 20.0 * i as monetary_365d, "
        "1 + i as rfm_recency_score, 2 as rfm_frequency_score, 3 as rfm_monetary_score, 'loyal' as rfm_segment, "
        "9 as latest_nps, i as review_count, true as has_marketing_consent, false as has_profiling_consent "
        "from range(3) t(i)"
    )
    con.close()
    return path


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def project(tmp_path, monkeypatch) -> dict[str, Path]:
    """A small warehouse and the committed expectations/ folder, which gate runs must only read."""
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    return {"warehouse": _warehouse(tmp_path / "warehouse.duckdb"), "gx": quality.get_settings().expectations_dir}


def test_good_orders_pass_and_leave_the_warehouse_writable_and_expectations_unchanged(project, tmp_path):
    before = _hashes(project["gx"])
    started = time.perf_counter()
    result = quality.check_gate("raw_orders", project["warehouse"])
    print(f"raw_orders gate: {time.perf_counter() - started:.1f} s")
    assert result.success and not result.failed
    assert result.statistics["evaluated_expectations"] > 10
    duckdb.connect(str(project["warehouse"])).close()
    assert result.data_docs_path and result.data_docs_path.is_file()
    quality_dir = tmp_path / "home" / "quality"
    assert str(result.data_docs_path).startswith(str(quality_dir))
    assert (quality_dir / "gx_project" / "raw_orders" / "checkpoints" / "raw_orders.json").is_file()
    assert _hashes(project["gx"]) == before
    assert not (project["gx"] / "uncommitted").exists()


def test_a_missing_declared_column_fails_the_gate(project):
    before = _hashes(project["gx"])
    con = duckdb.connect(str(project["warehouse"]))
    con.execute("alter table raw.orders drop column status")
    con.close()
    result = quality.run_gate("raw_orders", project["warehouse"])
    failed = {(f["expectation"], f["column"]) for f in result.failed}
    assert not result.success
    assert ("expect_column_to_exist", "status") in failed
    assert _hashes(project["gx"]) == before


def test_broken_orders_fail_with_a_message_naming_what_and_where(project):
    con = duckdb.connect(str(project["warehouse"]))
    con.execute("update raw.orders set order_total = -7.5 where order_id = 'o1'")
    con.execute("update raw.orders set status = 'lost_in_space' where order_id = 'o2'")
    con.execute("insert into raw.orders select * from raw.orders where order_id = 'o3'")
    con.close()
    with pytest.raises(quality.QualityGateError) as caught:
        quality.check_gate("raw_orders", project["warehouse"])
    message = str(caught.value)
    assert "'raw_orders'" in message
    assert "expect_column_values_to_be_between on column 'order_total'" in message and "-7.5" in message
    assert "expect_column_values_to_be_in_set on column 'status'" in message and "lost_in_space" in message
    assert "expect_compound_columns_to_be_unique on column 'order_id,updated_at'" in message and "o3" in message
    docs = caught.value.result.data_docs_path
    html = docs.read_text()
    assert "lost_in_space" in html and "order_total" in html
    duckdb.connect(str(project["warehouse"])).close()


def test_customer_360_with_an_out_of_range_rfm_score_fails(project):
    assert quality.run_gate("customer_360", project["warehouse"]).success
    con = duckdb.connect(str(project["warehouse"]))
    con.execute("update marts.customer_360 set rfm_monetary_score = 7 where customer_id = 'c1'")
    con.execute(
        "insert into marts.customer_360 select 'c9' as customer_id, * exclude (customer_id) "
        "from marts.customer_360 where customer_id = 'c0'"
    )
    con.close()
    result = quality.run_gate("customer_360", project["warehouse"])
    failed = {(f["expectation"], f["column"]): f for f in result.failed}
    assert not result.success
    assert failed[("expect_column_values_to_be_between", "rfm_monetary_score")]["sample_unexpected_values"] == [7]
    assert failed[("expect_table_row_count_to_be_between", None)]["observed_value"] == 4


def test_committed_definitions_match_the_code(tmp_path, monkeypatch):
    """Stale definitions fail here: regenerate with `python -m rapport.quality` and commit expectations/."""
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    committed, fresh = quality.get_settings().expectations_dir, tmp_path / "expectations"
    quality.write_gate_definitions(fresh)
    names = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(committed)) for p in committed.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(committed, fresh, names, shallow=False)
    assert not mismatch and not errors, f"stale definitions in expectations/: {mismatch or errors}"
    assert "checkpoints/raw_orders.json" in names and "expectations/customer_360.json" in names
    assert not (tmp_path / "home").exists()
