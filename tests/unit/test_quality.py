"""Quality gate suites are derived from the contract and report failures readably (no GX run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rapport import quality
from rapport.contract import get_table


def _kinds(suite) -> dict[tuple[str, str | None], dict]:
    found = {}
    for expectation in suite.expectations:
        config = expectation.configuration
        column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []) or None
        found[(config.type, column)] = dict(config.kwargs)
    return found


def test_raw_orders_suite_follows_the_contract():
    kinds = _kinds(quality.raw_orders_suite())
    orders = get_table("orders")
    assert kinds[("expect_column_values_to_be_in_set", "status")]["value_set"] == list(orders.column("status").enum)
    assert kinds[("expect_column_values_to_be_in_set", "channel")]["value_set"] == list(orders.column("channel").enum)
    assert kinds[("expect_column_values_to_be_between", "order_total")]["max_value"] == quality.ORDER_TOTAL_CAP
    assert kinds[("expect_column_values_to_be_between", "order_total")]["min_value"] == 0
    assert ("expect_column_values_to_not_be_null", "customer_id") in kinds
    assert ("expect_column_values_to_not_be_null", "order_id") in kinds
    assert ("expect_compound_columns_to_be_unique", "order_id,updated_at") in kinds
    assert kinds[("expect_table_row_count_to_be_between", None)]["min_value"] == 1
    existing = {column for kind, column in kinds if kind == "expect_column_to_exist"}
    assert existing == {c.raw_name for c in orders.raw_columns}


def test_customer_360_suite_requires_every_declared_column_and_checks_key_and_row_count():
    kinds = _kinds(quality.customer_360_suite())
    assert {column for kind, column in kinds if kind == "expect_column_to_exist"} == set(quality.CUSTOMER_360_COLUMNS)
    assert ("expect_column_values_to_be_unique", "customer_id") in kinds
    assert ("expect_column_values_to_not_be_null", "customer_id") in kinds
    assert kinds[("expect_table_row_count_to_be_between", None)]["max_value"] == {"$PARAMETER": "raw_customer_count"}
    assert kinds[("expect_column_values_to_be_between", "rfm_recency_score")]["max_value"] == 5
    assert ("expect_column_values_to_not_be_null", "rfm_segment") in kinds


def test_every_gate_suite_is_built_from_declared_columns_only():
    for name, gate in quality.GATES.items():
        suite = gate.build_suite()
        assert suite.name == name
        checked = {e.configuration.kwargs.get("column") for e in suite.expectations} - {None}
        existing = {
            e.configuration.kwargs["column"]
            for e in suite.expectations
            if e.configuration.type == "expect_column_to_exist"
        }
        assert checked <= existing, f"{name}: expectations on columns not required to exist: {checked - existing}"


def test_missing_committed_definitions_ask_for_write_gate_definitions(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=r"write_gate_definitions\(\)") as caught:
        quality.run_gate("raw_orders", tmp_path / "warehouse.duckdb", project_dir=tmp_path / "expectations")
    assert "checkpoints/raw_orders.json" in str(caught.value)
    assert not (tmp_path / "home").exists()


def test_score_table_suite_checks_key_per_run_probabilities_and_model_version():
    kinds = _kinds(quality.score_table_suite("ml.churn_scores", ["customer_id"], ["churn_probability"]))
    assert {column for kind, column in kinds if kind == "expect_column_to_exist"} == {
        "customer_id",
        "scoring_run_id",
        "model_version",
        "churn_probability",
    }
    assert ("expect_compound_columns_to_be_unique", "customer_id,scoring_run_id") in kinds
    assert kinds[("expect_column_values_to_be_between", "churn_probability")] == {
        "column": "churn_probability",
        "min_value": 0.0,
        "max_value": 1.0,
    }
    assert ("expect_column_values_to_not_be_null", "model_version") in kinds


def test_failure_message_names_suite_expectations_columns_and_samples():
    result = quality.GateResult(
        success=False,
        suite="raw_orders",
        table="raw.orders",
        statistics={"evaluated_expectations": 10, "unsuccessful_expectations": 1},
        failed=[
            {
                "expectation": "expect_column_values_to_be_between",
                "column": "order_total",
                "unexpected_count": 1,
                "sample_unexpected_values": [-5.0],
            }
        ],
        data_docs_path=Path("/tmp/docs.html"),
    )
    message = str(quality.QualityGateError(result))
    assert "'raw_orders'" in message and "raw.orders" in message
    assert "expect_column_values_to_be_between on column 'order_total'" in message
    assert "-5.0" in message and "/tmp/docs.html" in message
    assert result.as_dict()["data_docs_path"] == "/tmp/docs.html"


def test_unknown_gate_names_the_known_ones():
    with pytest.raises(KeyError, match="raw_orders"):
        quality.get_gate("nope")
