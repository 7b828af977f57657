"""The `rapport` command: one subcommand per stage of the flow, the same functions the DAG tasks call."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime

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

    sub.add_parser("ingest", help="load new landing files into raw.* (bad rows to quarantine.* with the reason)")

    p = sub.add_parser("transform", help="dbt build: staging, intermediate and marts as of a date")
    _as_of_argument(p)
    p.add_argument("--select", help="dbt selection (default: everything)")

    p = sub.add_parser("validate", help="run Great Expectations gates (exit 1 when one fails)")
    p.add_argument("gates", nargs="*", help="gate names (default: every gate)")

    p = sub.add_parser("train", help="train models and log them to MLflow (never promotes)")
    _as_of_argument(p)
    p.add_argument("models", nargs="*", default=["churn", "nbo", "sentiment"], help="models (default: all)")

    p = sub.add_parser("promote", help="promotion gate: set @champion if the challenger beats champion/baseline")
    p.add_argument("model", choices=["churn", "nbo", "sentiment"])
    p.add_argument("--version", help="model version (default: the latest registered)")

    p = sub.add_parser("score", help="score with the @champion models and write the scores back to ml.*")
    _as_of_argument(p)
    p.add_argument("models", nargs="*", default=["churn", "nbo", "sentiment"], help="models (default: all)")

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

    p = sub.add_parser("airflow-env", help="run a command (e.g. `airflow standalone`) with Rapport's Airflow settings")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")

    p = sub.add_parser("mlflow-ui", help="start the MLflow UI on Rapport's tracking store")
    p.add_argument("--port", type=int, default=5000)
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
        _print(pipeline.ingest())
    elif command == "transform":
        _print(pipeline.transform(args.as_of, args.select))
    elif command == "validate":
        from rapport.quality import GATES, QualityGateError

        failed = False
        for gate in args.gates or list(GATES):
            try:
                _print(pipeline.validate(gate))
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
    elif command == "status":
        from rapport.status import print_status

        print_status()
    elif command == "airflow-env":
        argv = [a for a in args.argv if a != "--"] or ["airflow", "standalone"]
        env = {**os.environ, **airflow_env()}
        env["PATH"] = f"{os.path.dirname(sys.executable)}:{env.get('PATH', '')}"
        return subprocess.call(argv, env=env)
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
    return 0


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
    print(f"Running the {DAG_ID} DAG through Airflow (dag.test) as of {as_of} ...", flush=True)
    result = run_dag(as_of)
    print(f"DAG {result['dag_id']} run {result['run_id']}: {result['state']} ({len(result['tasks'])} tasks)")
    print_status()
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
