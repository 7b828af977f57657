"""Time ``dbt build`` of the whole project against the same logic as one hand-written DuckDB SQL script.

    .venv/bin/python benchmarks/bench_dbt.py --customers 100000
    .venv/bin/python benchmarks/bench_dbt.py --landing /tmp/gen1m      # landing files generated elsewhere

In a throw-away RAPPORT_HOME: simulate (or take) landing files, ingest them, write synthetic scores
for the as-of date (so the score marts join real rows), then time on the same warehouse:
- ``dbt_build``: ``dbt build`` of every model and test (a fresh warehouse: incremental models build in full);
- ``dbt_build_incremental``: the same build again (incremental models merge only what changed);
- ``dbt_run_full_refresh``: ``dbt run --full-refresh``, the models alone, like the script;
- ``reference_sql``: ``reference_sql/rapport_marts.sql``, the same models by hand in one DuckDB script
  (no tests, no incremental bookkeeping), writing to schema ``reference``.
The goal is ``dbt_build / reference_sql < 1.5``. Both outputs are compared column by column on
customer_360 and segment_health, so the reference is known to compute the same thing. Where the time goes:
``dbt_build_nodes`` sums dbt's run_results.json per node type and lists the slowest nodes. The machine's
load average is recorded before and after (2 cores shared with other work make timings noisy: compare
ratios taken in the same run). ``RAPPORT_DBT_THREADS`` sets dbt's threads, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
REFERENCE_SQL = HERE / "reference_sql" / "rapport_marts.sql"
COMPARED_COLUMNS = (
    "recency_days", "frequency_365d", "monetary_365d", "rfm_segment", "value_tier", "engagement_index",
    "historic_clv", "preferred_channel", "preferred_time_of_day", "latest_nps", "sentiment_level",
    "sentiment_band", "churn_probability", "next_best_offer_id", "loyalty_tier", "health_index",
)  # fmt: skip


def timed(func, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return round(time.perf_counter() - started, 2), result


def prepare_warehouse(args: argparse.Namespace) -> dict:
    """Landing files (simulated unless given) ingested into the benchmark home's warehouse."""
    from rapport.ingest import ingest
    from rapport.settings import get_settings
    from rapport.simulate import generate

    landing = get_settings().landing_dir
    if args.landing:
        landing.parent.mkdir(parents=True, exist_ok=True)
        landing.symlink_to(Path(args.landing).resolve(), target_is_directory=True)
        generate_seconds = None
    else:
        generate_seconds, _ = timed(generate, landing, customers=args.customers, days=args.days, seed=42)
    ingest_seconds, _ = timed(ingest)
    return {"generate_seconds": generate_seconds, "ingest_seconds": ingest_seconds}


def write_scores(as_of: date) -> dict[str, int]:
    """Deterministic stand-in scores for every customer and review, as the models would write them back."""
    from rapport import warehouse

    scored_at = datetime.combine(as_of, datetime.min.time())
    run = "'rapport-{model}' as model_name, '1' as model_version, 'bench' as scoring_run_id, ? as as_of_date, ? as scored_at"
    statements = {
        "ml.churn_scores": f"""select customer_id, (hash(customer_id) % 1000) / 1000.0 as churn_probability,
            'medium' as risk_band, 'fewer recent orders' as reason_1, {run.format(model="churn")} from raw.customers""",
        "ml.clv_scores": f"""select customer_id, (hash(customer_id) % 5000) / 10.0 as predicted_clv_365d,
            (hash(customer_id) % 12) as expected_orders_365d, {run.format(model="clv")} from raw.customers""",
        "ml.offer_recommendations": f"""select customer_id, 1 as rank, (select min(offer_id) from raw.offers) as offer_id,
            'email' as channel, 0.1 as propensity, 2.5 as expected_value, 'bench' as reason, {run.format(model="nbo")}
            from raw.customers""",
        "ml.review_sentiment": f"""select review_id, customer_id,
            case when rating <= 2 then 'negative' when rating = 3 then 'neutral' else 'positive' end as label,
            (rating - 3) / 2.0 as score, {run.format(model="sentiment")} from raw.reviews""",
    }
    con = warehouse.connect()
    try:
        return {
            table: con.execute(f"insert into {table} by name {sql}", [as_of, scored_at]).fetchone()[0]
            for table, sql in statements.items()
        }
    finally:
        con.close()


def node_timings(top: int = 12) -> dict:
    """Seconds per node type (models, tests) and the slowest nodes of the last dbt invocation."""
    from rapport.settings import get_settings

    run_results = json.loads((get_settings().home / "dbt" / "target" / "run_results.json").read_text())
    by_type: dict[str, dict[str, float]] = {}
    for result in run_results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        entry = by_type.setdefault(kind, {"nodes": 0, "seconds": 0.0})
        entry["nodes"] += 1
        entry["seconds"] = round(entry["seconds"] + result["execution_time"], 2)
    slowest = sorted(run_results["results"], key=lambda r: r["execution_time"], reverse=True)[:top]
    return {
        "elapsed_seconds": round(run_results["elapsed_time"], 2),
        "by_type": by_type,
        "slowest": [{"node": r["unique_id"], "seconds": round(r["execution_time"], 2)} for r in slowest],
    }


def run_reference(as_of: date) -> None:
    from rapport import warehouse
    from rapport.ml.config import load_model_config
    from rapport.ml.features import churn_horizon_days

    script = REFERENCE_SQL.read_text().format(
        as_of=as_of.isoformat(),
        horizon=churn_horizon_days(),
        response_window=int(load_model_config("nbo")["response_window_days"]),
    )
    con = warehouse.connect()
    try:
        con.execute(script)
    finally:
        con.close()


def compare_outputs() -> dict:
    """Largest numeric difference and count of differing values per compared column, dbt vs reference."""
    from rapport import warehouse

    con = warehouse.connect(read_only=True)
    try:
        counts = con.execute(
            "select (select count(*) from marts.customer_360), (select count(*) from reference.customer_360), "
            "(select count(*) from marts.segment_health), (select count(*) from reference.segment_health)"
        ).fetchone()
        differing = {}
        for column in COMPARED_COLUMNS:
            differing[column] = con.execute(
                f"""select count(*) from marts.customer_360 d full join reference.customer_360 r using (customer_id)
                where not (d.{column} is not distinct from r.{column}
                           or abs(try_cast(d.{column} as double) - try_cast(r.{column} as double)) < 1e-9)"""
            ).fetchone()[0]
        segment_diffs = con.execute(
            """select count(*) from marts.segment_health d full join reference.segment_health r
               using (as_of_date, segment_type, segment)
               where d.customers is distinct from r.customers or abs(d.avg_health_index - r.avg_health_index) > 1e-9
                  or d.nps is distinct from r.nps and abs(d.nps - r.nps) > 1e-9"""
        ).fetchone()[0]
    finally:
        con.close()
    return {
        "customer_360_rows": {"dbt": counts[0], "reference": counts[1]},
        "segment_health_rows": {"dbt": counts[2], "reference": counts[3]},
        "customer_360_differing_values": differing,
        "segment_health_differing_rows": segment_diffs,
    }


def bench(args: argparse.Namespace) -> dict:
    from rapport.transform import build, run_dbt

    as_of = args.as_of
    setup = prepare_warehouse(args)
    scores = write_scores(as_of)
    run_dbt(["parse"], as_of, [as_of])  # what a deployment does once; partial parsing for the timed builds
    load_before = os.getloadavg()[0]
    dbt_seconds, dbt_summary = timed(build, as_of, feature_cutoffs=[as_of])
    dbt_nodes = node_timings()
    reference_seconds, _ = timed(run_reference, as_of)
    incremental_seconds, _ = timed(build, as_of, feature_cutoffs=[as_of])
    run_seconds, _ = timed(run_dbt, ["run", "--full-refresh"], as_of, [as_of])
    return {
        **setup,
        "dbt_threads": int(os.environ.get("RAPPORT_DBT_THREADS", "0")) or "profile default",
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "score_rows": scores,
        "dbt_build_seconds": dbt_seconds,
        "dbt_models": dbt_summary["models"],
        "dbt_tests": dbt_summary["tests"],
        "dbt_build_nodes": dbt_nodes,
        "dbt_build_incremental_seconds": incremental_seconds,
        "dbt_run_full_refresh_seconds": run_seconds,
        "reference_sql_seconds": reference_seconds,
        "ratio_dbt_build_vs_reference": round(dbt_seconds / reference_seconds, 2),
        "ratio_dbt_run_vs_reference": round(run_seconds / reference_seconds, 2),
        "ratio_incremental_vs_reference": round(incremental_seconds / reference_seconds, 2),
        "outputs": compare_outputs(),
    }


def markdown(result: dict) -> str:
    lines = [
        f"dbt build vs hand-written DuckDB SQL, {result['label']} ({result['machine']['cpus']} CPUs, as of {result['as_of']})",
        "",
        f"dbt threads {result['dbt_threads']} · load average {result['load_average_before']} before, "
        f"{result['load_average_after']} after",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        f"| dbt build, fresh warehouse ({result['dbt_models']} models, {result['dbt_tests']} tests) | {result['dbt_build_seconds']} |",
        f"| dbt build again (incremental) | {result['dbt_build_incremental_seconds']} |",
        f"| dbt run --full-refresh (models only, like the script) | {result['dbt_run_full_refresh_seconds']} |",
        f"| reference SQL script (same models, no tests) | {result['reference_sql_seconds']} |",
        "",
        f"ratio dbt build / reference {result['ratio_dbt_build_vs_reference']} (goal < 1.5) · "
        f"dbt run / reference {result['ratio_dbt_run_vs_reference']} · "
        f"incremental build / reference {result['ratio_incremental_vs_reference']}",
        "",
        f"outputs compared: {json.dumps(result['outputs'])}",
        "",
        "where dbt build's time goes (run_results.json): "
        + ", ".join(
            f"{kind} {v['nodes']} nodes {v['seconds']} s" for kind, v in result["dbt_build_nodes"]["by_type"].items()
        ),
        "",
        "| slowest nodes | seconds |",
        "| --- | ---: |",
        *[f"| {n['node']} | {n['seconds']} |" for n in result["dbt_build_nodes"]["slowest"]],
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--landing", help="use these landing files instead of simulating (e.g. /tmp/gen1m)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--keep-home", action="store_true", help="keep the benchmark's RAPPORT_HOME")
    parser.add_argument("--tag", help="suffix of the result files' names, e.g. the variant measured")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="rapport-bench-dbt-"))
    os.environ["RAPPORT_HOME"] = str(home)
    for name in ("RAPPORT_WAREHOUSE", "RAPPORT_LANDING_DIR"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(HERE.parent / "src"))
    try:
        result = bench(args)
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    label = f"landing {args.landing}" if args.landing else f"{args.customers:,} customers, {args.days} days"
    result = {
        "label": label,
        "as_of": args.as_of.isoformat(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        **result,
    }
    RESULTS.mkdir(exist_ok=True)
    size = args.customers if not args.landing else Path(args.landing).name
    stem = RESULTS / f"dbt-{date.today().isoformat()}-{size}{'-' + args.tag if args.tag else ''}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
