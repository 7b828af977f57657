"""Time each quality gate on a warehouse of a given size; write JSON and a markdown table to benchmarks/results/.

    .venv/bin/python benchmarks/bench_gates.py --customers 100000          # synthesised warehouse
    .venv/bin/python benchmarks/bench_gates.py --warehouse /tmp/gen1m/warehouse.duckdb --as-of 2026-11-01

With ``--warehouse`` the gates run read-only on a warehouse the pipeline built (gates whose tables it
lacks are reported as skipped). Without it, a warehouse is synthesised in SQL: every contract table
at the demo's rows per customer (5,000 customers: 57,879 orders, 241k web and 149k app events, 301k
interactions ...), values the contract accepts, ``marts.customer_360`` and ``segment_health``, a
churn training set over six cutoffs, and ``ml.churn_scores`` with ten daily partitions, so the score
gate shows that it reads the current partition only. Each gate runs twice (the first run also
imports GX and builds the Data Docs site; the second is the steady state); drift profiles are part of
the timing. The machine's load is recorded beside the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GATES = ("raw", "churn_training_set", "score_marts", "churn_scores")
# Rows per customer in the 5,000-customer demo data set (README), for the synthesised warehouse.
ROWS_PER_CUSTOMER = {
    "customers": 1.0,
    "consents": 4.0,
    "orders": 11.6,
    "order_items": 23.0,
    "web_events": 48.2,
    "app_events": 29.8,
    "store_visits": 5.0,
    "call_center_contacts": 0.8,
    "interactions": 60.2,
    "community_activity": 3.0,
    "offer_responses": 5.0,
    "nps_surveys": 1.0,
    "reviews": 0.65,
    "loyalty_tiers": 1.0,
    "deletion_requests": 0.001,
}
FIXED_ROWS = {"products": 500, "offers": 20, "campaigns": 24}
SCORE_PARTITIONS = 10
CUTOFFS = 6


def _value_sql(column, as_of: date, customers: int) -> str:
    if column.name == "customer_id":
        return f"'c' || (i % {customers})"
    if column.enum:
        return f"'{column.enum[0]}'"
    if column.type == "timestamp":
        return f"timestamp '{as_of}' - (i % 600) * interval 1 day - interval 1 hour"
    if column.type == "boolean":
        return "i % 2 = 0"
    if column.type in ("integer", "decimal"):
        low = column.min if column.min is not None else 0
        high = column.max if column.max is not None else low + 500
        return f"({low} + i % {int(high - low) + 1})::{'bigint' if column.type == 'integer' else 'double'}"
    return f"'{column.name}-' || i"


def synthesise(path: Path, customers: int, as_of: date) -> dict[str, int]:
    """A contract-valid warehouse at the demo's proportions; returns row counts."""
    import duckdb

    from rapport.contract import TABLES
    from rapport.quality_suites import declared_mart_columns, metric_range
    from rapport.scores import ensure_score_tables

    con = duckdb.connect(str(path))
    for schema in ("raw", "marts", "intermediate", "ml", "ops"):
        con.execute(f"create schema if not exists {schema}")
    counts = {}
    for table in TABLES:
        rows = FIXED_ROWS.get(table.name) or max(1, round(customers * ROWS_PER_CUSTOMER.get(table.name, 1.0)))
        values = ", ".join(f"{_value_sql(c, as_of, customers)} as {c.raw_name}" for c in table.raw_columns)
        con.execute(f"create table raw.{table.name} as select {values} from range({rows}) t(i)")
        counts[f"raw.{table.name}"] = rows

    def mart_value(column: str) -> str:
        if column == "customer_id":
            return "'c' || i"
        if column == "as_of_date":
            return f"date '{as_of}'"
        bounds = metric_range(column)
        return f"{bounds[0] or 0} + i % 2" if bounds else "'x'"

    columns = declared_mart_columns("customer_360")
    values = ", ".join(f"{mart_value(c)} as {c}" for c in columns)
    con.execute(f"create table marts.customer_360 as select {values} from range({customers}) t(i)")
    con.execute(
        "create table marts.segment_health as select 'rfm' as segment_type, 'segment-' || s as segment, "
        f"date '{as_of}' as as_of_date, {customers // 10} as customers, 1000.0 as revenue_365d, 8.0 as avg_nps, "
        "30.0 as nps, 50.0 as avg_engagement_index, 0.2 as avg_sentiment, 0.3 as avg_churn_probability, "
        "60.0 as avg_health_index, 10 as moved_in, 10 as moved_out from range(10) t(s)"
    )
    con.execute(
        f"create table marts.ml_churn_labels as select 'c' || (i % {customers}) as customer_id, "
        f"date '{as_of}' - 120 - ((i // {customers}) * 30)::integer as as_of_date, 90 as churn_horizon_days, "
        f"i % 4 = 0 as is_churned from range({customers * CUTOFFS}) t(i)"
    )
    con.execute(
        "create table marts.ml_customer_features as select customer_id, as_of_date, 10 as recency_days, "
        "400 as tenure_days from marts.ml_churn_labels"
    )
    con.execute(
        "create table intermediate.int_customer_features_as_of as select customer_id, as_of_date, "
        "as_of_date::timestamp - interval 1 day as last_source_event_at from marts.ml_churn_labels"
    )
    ensure_score_tables(con)
    for day in range(SCORE_PARTITIONS):
        con.execute(
            "insert into ml.churn_scores by name select 'c' || i as customer_id, (i % 100) / 100.0 as "
            f"churn_probability, 'low' as risk_band, date '{as_of - timedelta(days=day)}' as as_of_date, "
            "'rapport-churn' as model_name, '1' as model_version, 'run-bench' as scoring_run_id, "
            f"now()::timestamp as scored_at from range({customers}) t(i)"
        )
    counts["marts.customer_360"] = customers
    counts["marts.ml_churn_labels"] = customers * CUTOFFS
    counts["ml.churn_scores"] = customers * SCORE_PARTITIONS
    con.close()
    return counts


def time_gates(warehouse: Path, as_of: date, gates: tuple[str, ...]) -> dict[str, dict]:
    from rapport.quality import QualityGateError, run_gate

    timings = {}
    for gate in gates:
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            try:
                result = run_gate(gate, warehouse, as_of=as_of, run_id=f"bench-{len(runs)}")
            except QualityGateError as exc:
                timings[gate] = {"skipped": str(exc)}
                break
            runs.append(round(time.perf_counter() - started, 2))
        else:
            timings[gate] = {
                "first_run_seconds": runs[0],
                "steady_seconds": runs[1],
                "success": result.success,
                "expectations": result.statistics.get("evaluated_expectations"),
                "critical_failures": len(result.failed),
                "warnings": len(result.warnings),
            }
        print(gate, timings[gate], flush=True)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="size of the synthesised warehouse")
    parser.add_argument("--warehouse", type=Path, help="time gates on this warehouse instead (read-only)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rapport-bench-gates-") as home:
        os.environ["RAPPORT_HOME"] = home
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        counts: dict[str, int] = {}
        if args.warehouse:
            warehouse, label = args.warehouse, args.warehouse.name
        else:
            warehouse, label = Path(home) / "warehouse.duckdb", f"synthetic-{args.customers}"
            started = time.perf_counter()
            counts = synthesise(warehouse, args.customers, args.as_of)
            print(f"synthesised {sum(counts.values()):,} rows in {time.perf_counter() - started:.0f} s", flush=True)
        timings = time_gates(warehouse, args.as_of, GATES)
    result = {
        "warehouse": label,
        "customers": None if args.warehouse else args.customers,
        "as_of": args.as_of.isoformat(),
        "rows": counts,
        "gates": timings,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"gates-{label}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Quality gates on {label} (as of {args.as_of}, load {result['machine']['load_average_1m_at_end']})",
        "",
        "| gate | expectations | first run s | steady s | verdict |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for gate, timing in timings.items():
        if "skipped" in timing:
            lines.append(f"| {gate} | | | | skipped: {timing['skipped']} |")
        else:
            verdict = "passed" if timing["success"] else f"failed ({timing['critical_failures']})"
            lines.append(
                f"| {gate} | {timing['expectations']} | {timing['first_run_seconds']} | {timing['steady_seconds']} "
                f"| {verdict}, {timing['warnings']} warnings |"
            )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
