"""Great Expectations gates run end to end on small hand-built DuckDB warehouses."""

from __future__ import annotations

import filecmp
import shutil
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
        "i * 10 as recency_days, 1 + i as rfm_recency_score, 2 as rfm_frequency_score, 3 as rfm_monetary_score, "
        "'loyal' as rfm_segment from range(3) t(i)"
    )
    con.close()
    return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    return {"warehouse": _warehouse(tmp_path / "warehouse.duckdb"), "gx": tmp_path / "expectations"}


def test_good_orders_pass_and_leave_the_warehouse_writable(project):
    started = time.perf_counter()
    result = quality.check_gate("raw_orders", project["warehouse"], project_dir=project["gx"])
    print(f"raw_orders gate: {time.perf_counter() - started:.1f} s")
    assert result.success and not result.failed
    assert result.statistics["evaluated_expectations"] > 10
    duckdb.connect(str(project["warehouse"])).close()
    assert result.data_docs_path and result.data_docs_path.is_file()
    assert str(result.data_docs_path).startswith(str(project["gx"].parent / "home" / "quality"))
    assert not (project["gx"] / "uncommitted").exists()


def test_broken_orders_fail_with_a_message_naming_what_and_where(project):
    con = duckdb.connect(str(project["warehouse"]))
    con.execute("update raw.orders set order_total = -7.5 where order_id = 'o1'")
    con.execute("update raw.orders set status = 'lost_in_space' where order_id = 'o2'")
    con.execute("insert into raw.orders select * from raw.orders where order_id = 'o3'")
    con.close()
    with pytest.raises(quality.QualityGateError) as caught:
        quality.check_gate("raw_orders", project["warehouse"], project_dir=project["gx"])
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
    assert quality.run_gate("customer_360", project["warehouse"], project_dir=project["gx"]).success
    con = duckdb.connect(str(project["warehouse"]))
    con.execute("update marts.customer_360 set rfm_monetary_score = 7 where customer_id = 'c1'")
    con.execute(
        "insert into marts.customer_360 select 'c9', as_of_date, 1, 1, 1, 1, 'new' from marts.customer_360 limit 1"
    )
    con.close()
    result = quality.run_gate("customer_360", project["warehouse"], project_dir=project["gx"])
    failed = {(f["expectation"], f["column"]): f for f in result.failed}
    assert not result.success
    assert failed[("expect_column_values_to_be_between", "rfm_monetary_score")]["sample_unexpected_values"] == [7]
    assert failed[("expect_table_row_count_to_be_between", None)]["observed_value"] == 4


def test_regenerating_definitions_is_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    first, second = tmp_path / "first", tmp_path / "second"
    quality.write_gate_definitions(first)
    shutil.copytree(first, second)
    quality.write_gate_definitions(second)
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert not mismatch and not errors
    assert "checkpoints/raw_orders.json" in names and "expectations/customer_360.json" in names
