"""A forgotten customer leaves no trace after a real pipeline run, and a rerun of the day does not bring them back.

Runs on a private copy of the shared pipeline run (500 simulated customers through the Airflow DAG).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest
from trace_search import column_traces

from rapport import pipeline, warehouse
from rapport.contract import get_table
from rapport.settings import get_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def file_traces(needles: list[str]) -> list[str]:
    settings = get_settings()
    pattern = re.compile(
        rb"(?<![A-Za-z0-9_])(" + b"|".join(re.escape(n.encode()) for n in needles) + rb")(?![A-Za-z0-9_])"
    )
    folders = [
        settings.mlartifacts_dir,
        settings.models_dir,
        settings.reports_dir,
        settings.quality_dir,
        settings.serving_path.parent,
        settings.airflow_home / "logs",
    ]
    files = [p for folder in folders if folder.is_dir() for p in folder.rglob("*") if p.is_file()]
    files.append(settings.home / "mlflow.db")
    return [str(p) for p in files if p.exists() and pattern.search(p.read_bytes())]


def traces(needles: list[str]) -> list[str]:
    con = warehouse.connect(read_only=True)
    try:
        found = column_traces(con, needles)
    finally:
        con.close()
    serving = duckdb.connect(str(get_settings().serving_path), read_only=True)
    try:
        found += [f"serving copy {t}" for t in column_traces(serving, needles)]
    finally:
        serving.close()
    return found + file_traces(needles)


def land_again(landing: Path, customer_id: str) -> None:
    """The source sends the customer again, in a new day's file."""
    columns = get_table("orders").column_names
    row = {
        "order_id": "O-AFTER-ERASURE",
        "customer_id": customer_id,
        "ordered_at": "2026-10-31 10:00:00",
        "channel": "web",
        "order_total": "20",
        "discount_amount": "0",
        "status": "completed",
        "updated_at": "2026-10-31 10:00:00",
    }
    path = landing / "orders" / "orders_2026-10-31b.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerow([row.get(c, "") for c in columns])


def test_a_forgotten_customer_leaves_no_trace_and_a_rerun_does_not_bring_them_back(pipeline_home_copy, pipeline_run):
    as_of = pipeline_run["as_of"]
    con = warehouse.connect(read_only=True)
    try:
        customer_id, phone_hash = con.execute(
            "select c.customer_id, any_value(c.phone_hash) from raw.customers c "
            "join ml.churn_scores s using (customer_id) join ml.offer_recommendations o using (customer_id) "
            "where c.phone_hash is not null group by 1 order by 1 limit 1"
        ).fetchone()
    finally:
        con.close()
    needles = [customer_id, phone_hash]
    before = traces(needles)
    assert any(t.startswith("ml.churn_scores") for t in before) and any("serving copy" in t for t in before)

    [result] = pipeline.forget([customer_id])

    assert result["rows_deleted"] > 10
    assert traces(needles) == []

    land_again(get_settings().landing_dir, customer_id)
    pipeline.ingest()
    pipeline.transform(as_of)
    pipeline.publish()
    assert traces(needles) == []
