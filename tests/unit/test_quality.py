"""Quality gate suites are derived from declarations and report failures readably (no GX run here)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from rapport import quality, quality_drift, quality_suites
from rapport.contract import TABLES, get_table
from rapport.scores import SCORE_TABLES


def _kinds(suite) -> dict[tuple[str, str | None], dict]:
    found = {}
    for expectation in suite.expectations:
        config = expectation.configuration
        kwargs = config.kwargs
        column = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or None
        if kwargs.get("column_A"):
            column = f"{kwargs['column_A']},{kwargs['column_B']}"
        found[(config.type, column)] = {**kwargs, "severity": expectation.severity.value}
    return found


def test_raw_orders_suite_follows_the_contract():
    kinds = _kinds(quality_suites.raw_table_suite("orders"))
    orders = get_table("orders")
    assert kinds[("expect_column_values_to_be_in_set", "status")]["value_set"] == list(orders.column("status").enum)
    assert kinds[("expect_column_values_to_be_in_set", "channel")]["value_set"] == list(orders.column("channel").enum)
    assert kinds[("expect_column_values_to_be_between", "order_total")]["max_value"] == quality.ORDER_TOTAL_CAP
    assert kinds[("expect_column_values_to_be_between", "order_total")]["min_value"] == 0
    assert ("expect_column_values_to_not_be_null", "customer_id") in kinds
    assert ("expect_column_values_to_not_be_null", "order_id") in kinds
    assert ("expect_compound_columns_to_be_unique", "order_id,updated_at") in kinds
    assert kinds[("expect_table_row_count_to_be_between", None)]["severity"] == "critical"
    existing = {column for kind, column in kinds if kind == "expect_column_to_exist"}
    assert existing == {c.raw_name for c in orders.raw_columns}


def test_every_contract_table_has_a_raw_suite_in_the_raw_gate():
    suites = [check.suite for check in quality.GATES["raw"].checks]
    assert suites == [f"raw_{table.name}" for table in TABLES]


def test_freshness_is_a_parameter_of_the_as_of_date_with_the_configured_severity():
    orders = _kinds(quality_suites.raw_table_suite("orders"))
    freshness = orders[("expect_column_max_to_be_between", "ordered_at")]
    assert freshness["min_value"] == {"$PARAMETER": "orders_fresh_since"}
    assert freshness["severity"] == "critical"
    assert ("expect_column_max_to_be_between", "updated_at") not in _kinds(quality_suites.raw_table_suite("products"))
    reviews = _kinds(quality_suites.raw_table_suite("reviews"))
    assert reviews[("expect_column_max_to_be_between", "reviewed_at")]["severity"] == "warning"


def test_gate_parameters_place_freshness_before_the_as_of_date(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema raw; create table raw.customers as select 'c' || i as customer_id from range(4) t(i)")
    parameters = quality_suites.gate_parameters(con, date(2026, 11, 1))
    con.close()
    max_age = quality_suites.freshness_rule("orders")["max_age_days"]
    assert date.fromisoformat(parameters["orders_fresh_since"]) == date.fromordinal(
        date(2026, 11, 1).toordinal() - max_age
    )
    assert parameters["raw_customer_count"] == 4
    assert parameters["customer_count"] == 0  # no customer_360 yet: counts as none
    assert "products_fresh_since" not in parameters


def test_an_optional_source_may_be_empty_but_a_required_one_may_not():
    consents = _kinds(quality_suites.raw_table_suite("consents"))
    assert consents[("expect_table_row_count_to_be_between", None)]["severity"] == "warning"


def test_customer_360_suite_requires_every_column_the_dbt_docs_declare():
    kinds = _kinds(quality_suites.customer_360_suite())
    declared = quality_suites.declared_mart_columns("customer_360")
    assert {column for kind, column in kinds if kind == "expect_column_to_exist"} == set(declared)
    assert ("expect_column_values_to_be_unique", "customer_id") in kinds
    assert kinds[("expect_table_row_count_to_be_between", None)]["max_value"] == {"$PARAMETER": "raw_customer_count"}
    assert kinds[("expect_column_values_to_be_between", "rfm_recency_score")]["max_value"] == 5
    assert kinds[("expect_column_values_to_not_be_null", "rfm_segment")].get("mostly", 1.0) == 1.0
    assert kinds[("expect_column_values_to_not_be_null", "preferred_channel")]["mostly"] == 0.4


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("rfm_monetary_score", (1, 5)),
        ("health_index", (0, 100)),
        ("avg_health_index", (0, 100)),
        ("churn_probability", (0, 1)),
        ("avg_churn_probability", (0, 1)),
        ("web_share_90d", (0, 1)),
        ("latest_nps", (0, 10)),
        ("nps", (-100, 100)),
        ("avg_sentiment", (-1, 1)),
        ("monetary_365d", (0, None)),
        ("sentiment_trend_90d", None),
        ("sentiment_band", None),
        ("rfm_segment", None),
    ],
)
def test_metric_ranges_follow_column_names(column, expected):
    assert quality_suites.metric_range(column) == expected


def test_segment_health_suite_bounds_segments_by_the_customer_base_and_checks_metric_ranges():
    kinds = _kinds(quality_suites.segment_health_suite())
    assert {c for kind, c in kinds if kind == "expect_column_to_exist"} == set(quality_suites.SEGMENT_HEALTH_COLUMNS)
    assert kinds[("expect_column_values_to_be_between", "customers")]["max_value"] == {"$PARAMETER": "customer_count"}
    assert ("expect_compound_columns_to_be_unique", "segment_type,segment,as_of_date") in kinds
    assert kinds[("expect_column_values_to_be_between", "avg_health_index")]["max_value"] == 100
    assert kinds[("expect_column_values_to_be_between", "avg_churn_probability")]["max_value"] == 1
    assert kinds[("expect_column_values_to_be_between", "nps")]["min_value"] == -100


def test_churn_training_set_suite_checks_balance_and_leakage():
    kinds = _kinds(quality_suites.churn_training_set_suite())
    rate = quality_suites.thresholds("churn_training_set")["churn_rate"]
    balance = kinds[("expect_column_mean_to_be_between", "churn_label")]
    assert (balance["min_value"], balance["max_value"]) == (rate["min"], rate["max"])
    leak = kinds[("expect_column_pair_values_a_to_be_greater_than_b", "cutoff_at,last_source_event_at")]
    assert leak["or_equal"] is False
    closed = kinds[("expect_column_values_to_be_between", "label_window_end_date")]
    assert closed["max_value"] == {"$PARAMETER": "as_of_date"}


def test_every_score_table_has_a_partitioned_gate():
    for table in SCORE_TABLES.values():
        gate = quality.get_gate(quality_suites.score_suite_name(table))
        assert gate.partitioned and gate.checks[0].tables == (table.name,)


def test_score_table_suite_checks_key_probabilities_described_ranges_and_model_version():
    kinds = _kinds(quality_suites.score_table_suite(SCORE_TABLES["ml.review_sentiment"]))
    assert {c for kind, c in kinds if kind == "expect_column_to_exist"} == set(
        SCORE_TABLES["ml.review_sentiment"].column_names
    )
    assert ("expect_compound_columns_to_be_unique", "review_id,as_of_date,model_name") in kinds
    assert kinds[("expect_column_values_to_be_between", "p_neutral")]["max_value"] == 1.0
    assert kinds[("expect_column_values_to_be_between", "score")]["min_value"] == -1.0
    assert ("expect_column_values_to_not_be_null", "model_version") in kinds
    assert ("expect_column_values_to_be_between", "text_hash") not in kinds


def test_a_score_table_allowed_to_be_empty_only_warns():
    kinds = _kinds(quality_suites.score_table_suite(SCORE_TABLES["ml.churn_scores_shadow"]))
    assert kinds[("expect_table_row_count_to_be_between", None)]["severity"] == "warning"


def test_every_check_reads_declared_columns_only():
    for check in quality.all_checks():
        suite = check.build_suite()
        assert suite.name == check.suite
        checked = {e.configuration.kwargs.get("column") for e in suite.expectations} - {None}
        existing = {
            e.configuration.kwargs["column"] for e in suite.expectations if e.configuration.type.endswith("exist")
        }
        derived = {"segment_type_customers", "churn_label", "feature_customer_id", "recency_days", "tenure_days"}
        assert checked <= existing | derived, f"{check.suite}: undeclared columns {checked - existing - derived}"


def test_aliases_name_the_gate_that_now_holds_the_suite():
    assert quality.get_gate("raw_orders") is quality.GATES["raw"]
    assert "customer_360" in {c.suite for c in quality.get_gate("customer_360").checks}
    with pytest.raises(KeyError, match="raw"):
        quality.get_gate("nope")


def test_missing_committed_definitions_ask_for_write_gate_definitions(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=r"write_gate_definitions\(\)") as caught:
        quality.run_gate("raw", tmp_path / "warehouse.duckdb", project_dir=tmp_path / "expectations")
    assert "checkpoints/raw.json" in str(caught.value)
    assert "expectations/raw_orders.json" in str(caught.value)
    assert not (tmp_path / "home").exists()


def test_failure_message_names_gate_suite_expectations_columns_samples_and_warnings():
    result = quality.GateResult(
        success=False,
        suite="raw",
        table="raw.orders",
        statistics={"evaluated_expectations": 10, "unsuccessful_expectations": 2},
        failed=[
            {
                "suite": "raw_orders",
                "table": "raw.orders",
                "expectation": "expect_column_values_to_be_between",
                "column": "order_total",
                "unexpected_count": 1,
                "sample_unexpected_values": [-5.0],
            }
        ],
        warnings=[{"suite": "raw_reviews", "expectation": "expect_column_max_to_be_between", "column": "reviewed_at"}],
        data_docs_path=Path("/tmp/docs.html"),
    )
    message = str(quality.QualityGateError(result))
    assert "'raw'" in message and "raw_orders (raw.orders)" in message
    assert "expect_column_values_to_be_between on column 'order_total'" in message
    assert "-5.0" in message and "/tmp/docs.html" in message
    assert "warnings (1" in message and "raw_reviews" in message
    assert result.as_dict()["data_docs_path"] == "/tmp/docs.html"


RULE = quality_drift.DriftRule(columns=("x",), row_count_change=0.5, max_shift_sd=0.5, severity="critical")


def _profile(rows: int, mean: float, sd: float = 1.0) -> dict:
    return {
        "row_count": rows,
        "columns": {"x": {"mean": mean, "sd": sd, "quantiles": {"p05": mean - 2, "p50": mean, "p95": mean + 2}}},
    }


def test_drift_flags_row_count_and_mean_shifts_beyond_the_thresholds():
    findings = quality_drift.compare_profiles("s", "t", _profile(40, 11.0), _profile(100, 10.0), RULE)
    kinds = {(f["expectation"], f["column"]) for f in findings}
    assert ("drift_row_count_change", None) in kinds
    assert {("drift_mean_shift", "x"), ("drift_p50_shift", "x"), ("drift_p05_shift", "x")} <= kinds
    assert all(f["severity"] == "critical" for f in findings)


def test_drift_within_the_thresholds_passes():
    assert quality_drift.compare_profiles("s", "t", _profile(120, 10.3), _profile(100, 10.0), RULE) == []


def test_profile_reads_count_mean_sd_and_quantiles_in_one_query():
    con = duckdb.connect()
    profile = quality_drift.profile_batch(con, "select i::double as x from range(101) t(i)", ["x"])
    assert profile["row_count"] == 101
    assert profile["columns"]["x"]["mean"] == 50.0
    assert profile["columns"]["x"]["quantiles"] == {"p05": 5.0, "p50": 50.0, "p95": 95.0}
