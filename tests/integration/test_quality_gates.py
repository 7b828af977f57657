"""Great Expectations gates run end to end on small hand-built DuckDB warehouses shaped by the declarations.

Each gate gets a good batch that passes and a deliberately broken one that stops with the named failure,
while what the warehouse held before (earlier partitions, recorded results) stays as it was.
"""

from __future__ import annotations

import filecmp
import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from rapport import pipeline, quality, quality_suites, warehouse
from rapport.contract import TABLES, Column, Table
from rapport.scores import SCORE_TABLES, ScoreTable

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 1)


def _value_sql(table: Table, column: Column, as_of: date) -> str:
    """A SQL expression giving row ``i`` a value the contract accepts (fresh event times, valid enums)."""
    if column.name == "customer_id":
        return "'c' || (i % 3)"
    if column.enum:
        return f"'{column.enum[0]}'"
    if column.type == "timestamp":
        return f"timestamp '{as_of - timedelta(days=1)}' + i * interval 1 minute"
    if column.type == "date":
        return f"date '{as_of - timedelta(days=1)}'"
    if column.type == "boolean":
        return "true"
    if column.type in ("integer", "decimal"):
        value = column.min if column.min is not None else 1
        return f"({value} + i % 2)::{'bigint' if column.type == 'integer' else 'double'}"
    return f"'{column.name}_' || i"


def _raw_tables(con: duckdb.DuckDBPyConnection, as_of: date = AS_OF) -> None:
    con.execute("create schema if not exists raw")
    for table in TABLES:
        values = ", ".join(f"{_value_sql(table, c, as_of)} as {c.raw_name}" for c in table.raw_columns)
        con.execute(f"create or replace table raw.{table.name} as select {values} from range(6) t(i)")


def _mart_value_sql(column: str) -> str:
    if column == "customer_id":
        return "'c' || i"
    if column == "as_of_date":
        return f"date '{AS_OF}'"
    bounds = quality_suites.metric_range(column)
    if bounds is not None:
        return f"{bounds[0] if bounds[0] is not None else 0} + i % 2"
    return "'x'"


def _score_marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists marts")
    columns = quality_suites.declared_mart_columns("customer_360")
    values = ", ".join(f"{_mart_value_sql(c)} as {c}" for c in columns)
    con.execute(f"create or replace table marts.customer_360 as select {values} from range(3) t(i)")
    con.execute(
        "create or replace table marts.segment_health as select segment_type, segment, "
        f"date '{AS_OF}' as as_of_date, customers, 100.0 * customers as revenue_365d, 8.5::double as avg_nps, "
        "40::double as nps, 55::double as avg_engagement_index, 0.3::double as avg_sentiment, "
        "0.2::double as avg_churn_probability, 61::double as avg_health_index, 0 as moved_in, 0 as moved_out "
        "from (values ('rfm', 'champions', 2), ('rfm', 'at_risk', 1), ('tier', 'gold', 3)) s(segment_type, segment, customers)"
    )


def _training_set(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists marts; create schema if not exists intermediate")
    con.execute(
        "create or replace table marts.ml_churn_labels as select 'c' || (i % 3) as customer_id, "
        f"date '{AS_OF}' - 200 + ((i // 3) * 30)::integer as as_of_date, 90 as churn_horizon_days, i % 3 = 0 as is_churned "
        "from range(9) t(i)"
    )
    con.execute(
        "create or replace table marts.ml_customer_features as select customer_id, as_of_date, "
        "10 as recency_days, 300 as tenure_days from marts.ml_churn_labels"
    )
    con.execute(
        "create or replace table intermediate.int_customer_features_as_of as select customer_id, as_of_date, "
        "as_of_date::timestamp - interval 2 day as last_source_event_at from marts.ml_churn_labels"
    )


def _score_rows(con: duckdb.DuckDBPyConnection, as_of: date, probability: str = "0.1 + 0.1 * i") -> None:
    con.execute(
        "insert into ml.churn_scores by name select 'c' || i as customer_id, "
        f"{probability} as churn_probability, 'low' as risk_band, date '{as_of}' as as_of_date, "
        "'rapport-churn' as model_name, '3' as model_version, 'run-a' as scoring_run_id, "
        "now()::timestamp as scored_at from range(6) t(i)"
    )


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A RAPPORT_HOME whose warehouse holds every gated table, in a shape each gate accepts."""
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    con = warehouse.connect()
    _raw_tables(con)
    _score_marts(con)
    _training_set(con)
    _score_rows(con, AS_OF)
    con.close()
    return tmp_path / "home"


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _execute(sql: str) -> None:
    con = warehouse.connect()
    try:
        con.execute(sql)
    finally:
        con.close()


def _query(sql: str, parameters: list | None = None) -> list[tuple]:
    con = warehouse.connect(read_only=True)
    try:
        return con.execute(sql, parameters or []).fetchall()
    finally:
        con.close()


def test_good_raw_tables_pass_and_leave_expectations_unchanged(home):
    committed = quality.get_settings().expectations_dir
    before = _hashes(committed)
    result = quality.check_gate("raw", as_of=AS_OF)
    assert result.success and not result.failed
    assert result.statistics["evaluated_expectations"] > 10 * len(TABLES)
    assert result.data_docs_path and result.data_docs_path.is_file()
    assert str(result.data_docs_path).startswith(str(home / "quality"))
    assert _hashes(committed) == before
    duckdb.connect(str(home / "warehouse.duckdb")).close()  # no connection left open


def test_broken_raw_orders_stop_the_gate_naming_suite_columns_samples_and_the_data_docs_list_them(home):
    _execute("update raw.orders set order_total = -7.5 where order_id = 'order_id_1'")
    _execute("update raw.orders set status = 'lost_in_space' where order_id = 'order_id_2'")
    _execute("insert into raw.orders select * from raw.orders where order_id = 'order_id_3'")
    _execute("alter table raw.consents drop column purpose")
    with pytest.raises(quality.QualityGateError) as caught:
        pipeline.validate("raw", "run-broken", AS_OF)
    message = str(caught.value)
    assert "'raw'" in message and "raw_orders (raw.orders)" in message
    assert "expect_column_values_to_be_between on column 'order_total'" in message and "-7.5" in message
    assert "expect_column_values_to_be_in_set on column 'status'" in message and "lost_in_space" in message
    assert "expect_compound_columns_to_be_unique on column 'order_id,updated_at'" in message
    assert "raw_consents (raw.consents): expect_column_to_exist on column 'purpose'" in message
    assert caught.value.result.data_docs_path == caught.value.result.data_docs_pages["raw_consents"]
    html = caught.value.result.data_docs_pages["raw_orders"].read_text()
    assert "lost_in_space" in html and "order_total" in html
    recorded = _query("select success, failed, data_docs from ops.gate_results where run_id = 'run-broken'")
    assert recorded == [(False, len(caught.value.result.failed), str(caught.value.result.data_docs_path))]


def test_stale_data_fails_a_required_source_but_only_warns_for_an_optional_one(home):
    _execute("update raw.reviews set reviewed_at = reviewed_at - interval 60 day")
    warned = pipeline.validate("raw", "run-warn", AS_OF)
    assert warned["success"]
    assert [(w["suite"], w["expectation"]) for w in warned["warnings"]] == [
        ("raw_reviews", "expect_column_max_to_be_between")
    ]
    assert _query("select success, warned from ops.gate_results where run_id = 'run-warn'") == [(True, 1)]
    html = Path(warned["data_docs_path"]).read_text()
    assert "reviewed_at" in html

    _execute("update raw.orders set ordered_at = ordered_at - interval 30 day")
    result = quality.run_gate("raw", as_of=AS_OF)
    failed = {(f["suite"], f["expectation"], f["column"]) for f in result.failed}
    assert not result.success
    assert failed == {("raw_orders", "expect_column_max_to_be_between", "ordered_at")}


def test_score_marts_pass_then_fail_on_out_of_range_metrics_and_oversized_segments(home):
    assert quality.run_gate("score_marts", as_of=AS_OF).success
    _execute("update marts.segment_health set avg_health_index = 130 where segment = 'gold'")
    _execute("update marts.segment_health set customers = 9 where segment = 'champions'")
    _execute("update marts.customer_360 set rfm_monetary_score = 7 where customer_id = 'c1'")
    result = quality.run_gate("score_marts", as_of=AS_OF)
    failed = {(f["suite"], f["expectation"], f["column"]): f for f in result.failed}
    assert not result.success
    assert failed[("segment_health", "expect_column_values_to_be_between", "avg_health_index")][
        "sample_unexpected_values"
    ] == [130]
    assert failed[("segment_health", "expect_column_values_to_be_between", "customers")][
        "sample_unexpected_values"
    ] == [9]
    assert ("segment_health", "expect_column_values_to_be_between", "segment_type_customers") in failed
    assert failed[("customer_360", "expect_column_values_to_be_between", "rfm_monetary_score")][
        "sample_unexpected_values"
    ] == [7]


def test_churn_training_set_stops_on_leakage_open_label_windows_and_label_imbalance(home):
    assert quality.run_gate("churn_training_set", as_of=AS_OF).success
    _execute(
        "update intermediate.int_customer_features_as_of set last_source_event_at = as_of_date + interval 3 day "
        "where customer_id = 'c1'"
    )
    _execute(f"update marts.ml_churn_labels set as_of_date = date '{AS_OF}' - 10 where customer_id = 'c2'")
    _execute("update marts.ml_churn_labels set is_churned = true")
    result = quality.run_gate("churn_training_set", as_of=AS_OF)
    failed = {(f["expectation"], f["column"]) for f in result.failed}
    assert ("expect_column_pair_values_a_to_be_greater_than_b", "cutoff_at,last_source_event_at") in failed
    assert ("expect_column_values_to_be_between", "label_window_end_date") in failed
    assert ("expect_column_mean_to_be_between", "churn_label") in failed


def test_score_gate_reads_only_the_current_partition_and_a_broken_one_leaves_history_intact(home):
    yesterday = AS_OF - timedelta(days=1)
    con = warehouse.connect()
    _score_rows(con, yesterday, probability="1.5")  # a bad old partition: not this run's business
    con.close()
    assert quality.run_gate("churn_scores", as_of=AS_OF).success

    history = _query("select * from ml.churn_scores where as_of_date = ? order by customer_id", [yesterday])
    _execute(
        f"update ml.churn_scores set churn_probability = 1.7, model_version = null where as_of_date = '{AS_OF}' and customer_id = 'c4'"
    )
    with pytest.raises(quality.QualityGateError) as caught:
        quality.check_gate("churn_scores", as_of=AS_OF)
    failed = {(f["expectation"], f["column"]): f for f in caught.value.result.failed}
    assert failed[("expect_column_values_to_be_between", "churn_probability")]["sample_unexpected_values"] == [1.7]
    assert failed[("expect_column_values_to_not_be_null", "model_version")]["unexpected_count"] == 1
    assert _query("select * from ml.churn_scores where as_of_date = ? order by customer_id", [yesterday]) == history


def test_drift_against_the_previous_good_run_stops_a_silent_shift(home):
    first = pipeline.validate("churn_scores", "run-1", AS_OF)
    assert first["success"] and "no previous good run" in first["notes"][0]
    assert _query("select is_reference from ops.gate_profiles where run_id = 'run-1'") == [(True,)]

    _execute("update ml.churn_scores set churn_probability = churn_probability + 0.35")
    with pytest.raises(quality.QualityGateError) as caught:
        pipeline.validate("churn_scores", "run-2", AS_OF)
    kinds = {(f["expectation"], f["column"]) for f in caught.value.result.failed}
    assert ("drift_mean_shift", "churn_probability") in kinds
    assert "drift checked against run run-1" in caught.value.result.notes[0]
    assert _query("select is_reference from ops.gate_profiles where run_id = 'run-2'") == [(False,)]

    _execute("update ml.churn_scores set churn_probability = churn_probability - 0.35")
    assert pipeline.validate("churn_scores", "run-3", AS_OF)["success"]


def test_every_score_table_gate_runs_on_its_declared_columns(home):
    """A declared score table with a good partition passes its gate (catches suites out of step with scores.py)."""
    con = warehouse.connect()
    for table in SCORE_TABLES.values():
        if table.name == "ml.churn_scores":
            continue
        values = ", ".join(_score_value_sql(c.name, c.type, table) for c in table.columns)
        con.execute(f"insert into {table.name} by name select {values} from range(3) t(i)")
    con.close()
    for table in SCORE_TABLES.values():
        result = quality.run_gate(quality_suites.score_suite_name(table), as_of=AS_OF)
        assert result.success, quality.describe_failure(result)


def _score_value_sql(name: str, sql_type: str, table: ScoreTable) -> str:
    if name == "as_of_date":
        return f"date '{AS_OF}' as as_of_date"
    if name in table.key:
        return f"i as {name}" if sql_type == "integer" else f"'{name}_' || i as {name}"
    if sql_type == "integer":
        return f"1 as {name}"
    if sql_type == "double":
        return f"0.5 as {name}"
    if sql_type == "boolean":
        return f"false as {name}"
    if sql_type == "timestamp":
        return f"now()::timestamp as {name}"
    return f"'x' as {name}"


def test_committed_definitions_match_the_code(tmp_path, monkeypatch):
    """Stale definitions fail here: regenerate with `python -m rapport.quality` and commit expectations/."""
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    committed, fresh = quality.get_settings().expectations_dir, tmp_path / "expectations"
    quality.write_gate_definitions(fresh)
    names = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    hand_edited = {quality_suites.thresholds_path().name}
    assert names == sorted(
        str(p.relative_to(committed)) for p in committed.rglob("*") if p.is_file() and p.name not in hand_edited
    )
    match, mismatch, errors = filecmp.cmpfiles(committed, fresh, names, shallow=False)
    assert not mismatch and not errors, f"stale definitions in expectations/: {mismatch or errors}"
    assert "checkpoints/raw.json" in names and "expectations/customer_360.json" in names
    assert not (tmp_path / "home").exists()
