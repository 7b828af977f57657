"""The `rapport` command: one subcommand per stage of the flow, the same functions the DAG tasks call."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rapport.orchestration import DAG_ID, TELEMETRY_OFF, airflow_env, apply_environment
from rapport.settings import get_settings, parse_date

DEMO_AS_OF = date(2026, 11, 1)
DEMO_START = date(2024, 11, 1)


def _as_of_argument(parser: argparse.ArgumentParser, default: date | None = None) -> None:
    default = default or datetime.now(UTC).date()
    parser.add_argument(
        "--as-of",
        type=parse_date,
        default=default,
        metavar="DATE",
        help=f"as-of date YYYY-MM-DD: features use data before it, scores are stamped with it (default {default})",
    )


def _print(result) -> None:
    print(json.dumps(result, indent=2, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rapport",
        description="Rapport: omnichannel customer data to a customer 360, churn, next best offer and review "
        "sentiment, with quality gates, MLflow tracking and BI-ready tables. State lives in $RAPPORT_HOME "
        f"(now {get_settings().home}).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("generate", help="write a simulated data set as daily landing files")
    p.add_argument("--customers", type=int, default=5000, help="number of customers (default 5000)")
    p.add_argument("--start", type=parse_date, default=DEMO_START, help="first day (default %(default)s)")
    p.add_argument("--days", type=int, default=730, help="days of history (default 730)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")

    p = sub.add_parser("ingest", help="load new landing files into raw.* (bad rows to quarantine.* with the reason)")
    p.add_argument(
        "--mapping",
        type=Path,
        metavar="FILE",
        help="YAML mapping for exports shaped differently from the contract (default: $RAPPORT_INGEST_MAPPING)",
    )

    p = sub.add_parser("transform", help="dbt build: staging, intermediate and marts as of a date")
    _as_of_argument(p)
    p.add_argument("--select", help="dbt selection (default: the `core` selector, everything not reading scores)")

    p = sub.add_parser("score-marts", help="dbt build of the marts on the scores: customer_360, segment_health")
    _as_of_argument(p)

    p = sub.add_parser("validate", help="run Great Expectations gates (exit 1 when one fails)")
    p.add_argument("gates", nargs="*", help="gate names (default: every gate)")
    _as_of_argument(p)

    p = sub.add_parser("train", help="train models and log them to MLflow (never promotes)")
    _as_of_argument(p)
    p.add_argument("models", nargs="*", default=["churn", "clv", "nbo", "sentiment"], help="models (default: all)")

    p = sub.add_parser("promote", help="promotion gate: set @champion if the challenger beats champion/baseline")
    p.add_argument("model", choices=["churn", "clv", "nbo", "sentiment"])
    p.add_argument("--version", help="model version (default: the latest registered)")

    p = sub.add_parser("score", help="score with the @champion models and write the scores back to ml.*")
    _as_of_argument(p)
    p.add_argument("models", nargs="*", default=["churn", "clv", "nbo", "sentiment"], help="models (default: all)")

    p = sub.add_parser(
        "export-campaigns",
        help="write per-channel campaign and suppression lists (CSV, Parquet) of the decided offers under exports/",
    )
    _as_of_argument(p)

    sub.add_parser("publish", help="swap in the read-only BI copy of the output tables")

    p = sub.add_parser("report", help="write the HTML relationship report under var/reports/")
    _as_of_argument(p)

    p = sub.add_parser("run", help="the whole flow: ingest → gates → dbt → gates → train → score → publish → report")
    _as_of_argument(p)
    p.add_argument("--airflow", action="store_true", help="run it as the Airflow DAG (dag.test) instead of directly")

    p = sub.add_parser("demo", help="generate sample data (if none) and run the whole pipeline through Airflow")
    _as_of_argument(p, DEMO_AS_OF)
    p.add_argument("--customers", type=int, default=int(os.environ.get("RAPPORT_DEMO_CUSTOMERS", "5000")))

    p = sub.add_parser("status", help="print where everything is: warehouse tables, MLflow runs, quality results")

    p = sub.add_parser(
        "bench",
        help="time every stage (initial load, daily run, training) on simulated data beside its references; "
        "JSON and a markdown table (benchmarks/bench_pipeline.py, needs the source checkout)",
    )
    p.add_argument("--customers", type=int, default=10_000, help="simulated customers (default 10000)")
    p.add_argument("--days", type=int, default=730, help="days of history before the daily run (default 730)")
    p.add_argument("--output", type=Path, help="results folder (default benchmarks/results)")
    p.add_argument("--no-references", action="store_true", help="skip the Airflow, dbt and sentiment references")

    p = sub.add_parser(
        "forget",
        help="erase customers everywhere (tables, BI copies, MLflow artifacts, reports) and keep them out; audited",
    )
    p.add_argument("customer_ids", nargs="*", metavar="CUSTOMER_ID", help="customers to forget")
    p.add_argument("--requests", action="store_true", help="honour every request in raw.deletion_requests")

    p = sub.add_parser("retention", help="delete rows and files older than their time to live (config/retention.yaml)")
    _as_of_argument(p)

    p = sub.add_parser("airflow-env", help="run a command (e.g. `airflow standalone`) with Rapport's Airflow settings")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")

    sub.add_parser(
        "dbt-manifest",
        help="dbt parse into the manifest the per-model Airflow dbt tasks are rendered from (RAPPORT_DBT_TASKS=models)",
    )

    p = sub.add_parser("mlflow-ui", help="start the MLflow UI on Rapport's tracking store")
    p.add_argument("--port", type=int, default=5000)

    p = sub.add_parser("sentiment", help="score a text column of any CSV/Parquet file with the sentiment model")
    p.add_argument("--input", required=True, type=Path, help="CSV (.csv, .csv.gz) or Parquet file")
    p.add_argument("--text-column", required=True, help="column holding the texts")
    p.add_argument("--output", required=True, type=Path, help="file to write: the input rows + label, score, p_*")
    p.add_argument("--model", help="champion (default: RAPPORT_SENTIMENT_MODEL), models:/..., or a model folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    apply_environment({k: os.environ.get(k, v) for k, v in TELEMETRY_OFF.items()})
    from rapport import pipeline

    command = args.command
    if command == "generate":
        _print(pipeline.generate(args.customers, args.start, args.days, args.seed))
    elif command == "ingest":
        _print(pipeline.ingest(args.mapping))
    elif command == "transform":
        _print(pipeline.transform(args.as_of, args.select))
    elif command == "score-marts":
        _print(pipeline.build_score_marts(args.as_of))
    elif command == "validate":
        from rapport.quality import GATES, QualityGateError

        failed, run_id = False, pipeline.new_run_id()
        for gate in args.gates or list(GATES):
            try:
                _print(pipeline.validate(gate, run_id, args.as_of))
            except QualityGateError as exc:
                print(str(exc), file=sys.stderr)
                failed = True
        return 1 if failed else 0
    elif command == "train":
        _print([pipeline.train(model, args.as_of) for model in args.models])
    elif command == "promote":
        _print(pipeline.promote(args.model, args.version))
    elif command == "score":
        run_id = pipeline.new_run_id()
        _print([pipeline.score(model, args.as_of, run_id) for model in args.models])
    elif command == "export-campaigns":
        _print(pipeline.export_campaigns(args.as_of))
    elif command == "publish":
        _print(pipeline.publish())
    elif command == "report":
        _print(pipeline.report(args.as_of))
    elif command == "run":
        if args.airflow:
            from rapport.airflow_run import run_dag

            _print(run_dag(args.as_of))
        else:
            _print(pipeline.run(args.as_of))
    elif command == "demo":
        return demo(args.as_of, args.customers)
    elif command == "forget":
        if not args.customer_ids and not args.requests:
            print("rapport forget: name customer ids, or --requests to honour raw.deletion_requests", file=sys.stderr)
            return 2
        if args.customer_ids:
            _print(pipeline.forget(args.customer_ids))
        if args.requests:
            _print(pipeline.apply_deletion_requests())
    elif command == "retention":
        _print(pipeline.apply_retention(args.as_of))
    elif command == "bench":
        return bench(args)
    elif command == "status":
        from rapport.status import print_status

        print_status()
    elif command == "airflow-env":
        argv = [a for a in args.argv if a != "--"] or ["airflow", "standalone"]
        env = {**os.environ, **airflow_env()}
        env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"
        return subprocess.call(argv, env=env)
    elif command == "dbt-manifest":
        from rapport.airflow_run import build_dbt_manifest

        _print(build_dbt_manifest())
    elif command == "mlflow-ui":
        settings = get_settings()
        argv = [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "ui",
            "--backend-store-uri",
            settings.mlflow_tracking_uri,
            "--port",
            str(args.port),
        ]
        return subprocess.call(argv)
    elif command == "sentiment":
        from rapport.ml.sentiment import score_file

        try:
            _print(score_file(args.input, args.text_column, args.output, args.model))
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"rapport sentiment: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
            return 2
    return 0


def bench(args: argparse.Namespace) -> int:
    """Run benchmarks/bench_pipeline.py of the checkout Rapport runs from (it is not part of the package)."""
    import importlib.util

    script = get_settings().project_root / "benchmarks" / "bench_pipeline.py"
    if not script.is_file():
        print(
            f"rapport bench: {script} not found; run it from a source checkout (RAPPORT_PROJECT_ROOT)", file=sys.stderr
        )
        return 2
    spec = importlib.util.spec_from_file_location("bench_pipeline", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--customers", str(args.customers), "--days", str(args.days)]
    argv += ["--output", str(args.output)] if args.output else []
    argv += ["--no-references"] if args.no_references else []
    return module.main(argv)


def demo(as_of: date, customers: int) -> int:
    """Generate the sample data set (unless landing files exist), run the DAG, print where things are."""
    from rapport import pipeline
    from rapport.airflow_run import run_dag
    from rapport.status import print_status

    started = time.perf_counter()
    if pipeline.default_landing_is_empty():
        days = (as_of - DEMO_START).days
        print(f"Generating {customers} customers over {days} days of history ...", flush=True)
        _print(pipeline.generate(customers, DEMO_START, days))
    # Last week's run, then this week's: the weekly snapshots let the report show movement between segments.
    # The second run skips training (its @champions are fresh; see RAPPORT_RETRAIN_AFTER_DAYS).
    for run_date in (as_of - timedelta(days=7), as_of):
        print(f"Running the {DAG_ID} DAG through Airflow (dag.test) as of {run_date} ...", flush=True)
        result = run_dag(run_date)
        print(f"DAG {result['dag_id']} run {result['run_id']}: {result['state']} ({len(result['tasks'])} tasks)")
    print_status()
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
