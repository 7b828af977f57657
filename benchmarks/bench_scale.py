"""Run the pipeline stage by stage on a landing folder that is already there (e.g. bench_generate's 1M customers),
timing each stage: wall and CPU seconds, peak RSS of the process tree, rows where the stage reports them.

    RAPPORT_HOME=/tmp/gen1m .venv/bin/python benchmarks/bench_scale.py --as-of 2026-11-01 --skip-model sentiment

At a million customers the whole flow takes hours on two cores, so the JSON (benchmarks/results/
scale-<date>-<customers>.json) is rewritten after every stage: a run that is stopped keeps what it measured, and
``--from-stage NAME`` goes on from there on the same RAPPORT_HOME. CPU seconds are recorded beside wall time because
on a shared machine wall time alone says little. ``--skip-model`` leaves a model out of training and scoring (the
sentiment model's training does not grow with the number of customers; scoring every review of two years is the
one-off backfill, measured by bench_sentiment.py's throughput instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from bench_generate import cpu_seconds
from bench_pipeline import RESULTS, PeakRss, machine, rows_of


def plan(as_of: date, skip: set[str]) -> list[tuple[str, object, tuple]]:
    """(stage name, function, arguments) in the order the DAGs run them."""
    from rapport import pipeline

    models = [m for m in pipeline.MODELS if m not in skip]
    stages: list[tuple[str, object, tuple]] = [
        ("ingest", pipeline.ingest, ()),
        ("apply_deletion_requests", pipeline.apply_deletion_requests, ()),
        ("apply_retention", pipeline.apply_retention, (as_of,)),
    ]
    stages += [(f"gate_{g}", pipeline.validate, (g, "bench", as_of)) for g in pipeline.GATES_BEFORE_TRANSFORM]
    stages.append(("dbt_build", pipeline.transform, (as_of,)))
    stages += [(f"gate_{g}", pipeline.validate, (g, "bench", as_of)) for g in pipeline.GATES_AFTER_TRANSFORM]
    for model in models:
        stages.append((f"train_{model}", pipeline.train, (model, as_of)))
        stages.append((f"promote_{model}", pipeline.promote, (model,)))
    stages += [(f"score_{m}", pipeline.score, (m, as_of, "bench")) for m in models]
    stages.append(("build_score_marts", pipeline.build_score_marts, (as_of,)))
    stages += [(f"gate_{g}", pipeline.validate, (g, "bench", as_of)) for g in pipeline.GATES_AFTER_SCORING]
    stages += [
        ("export_campaigns", pipeline.export_campaigns, (as_of,)),
        ("publish", pipeline.publish, ()),
        ("report", pipeline.report, (as_of, "bench")),
    ]
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--customers", type=int, help="size label for the result file (default: raw.customers rows)")
    parser.add_argument("--skip-model", action="append", default=[], help="a model to leave out (repeatable)")
    parser.add_argument("--from-stage", help="go on from this stage (the earlier ones ran on this RAPPORT_HOME)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if "RAPPORT_HOME" not in os.environ:
        parser.error("set RAPPORT_HOME to the folder whose landing/ holds the generated files")

    from rapport.orchestration import TELEMETRY_OFF, apply_environment

    apply_environment(TELEMETRY_OFF)
    stages = plan(args.as_of, set(args.skip_model))
    names = [name for name, _, _ in stages]
    if args.from_stage and args.from_stage not in names:
        parser.error(f"--from-stage {args.from_stage!r} is not one of: {', '.join(names)}")
    first = names.index(args.from_stage) if args.from_stage else 0
    label = args.customers or "unknown"
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"scale-{date.today().isoformat()}-{label}.json"
    result = json.loads(path.read_text()) if first and path.exists() else {}
    result.update(
        {"customers": label, "as_of": args.as_of.isoformat(), "machine": machine(), "skipped_models": args.skip_model}
    )
    result.setdefault("stages", {})
    for index, (name, func, func_args) in enumerate(stages[first:], start=first + 1):
        load = os.getloadavg()[0]
        print(f"[{index}/{len(stages)}] {name} ... (load {load:.1f})", flush=True)
        with PeakRss() as peak:
            started, cpu_started = time.perf_counter(), cpu_seconds()
            outcome = func(*func_args)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        result["stages"][name] = {
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "peak_rss_mb": round(peak.peak / 2**20),
            "rows": rows_of(outcome),
            "load_average_at_start": round(load, 1),
        }
        print(f"[{index}/{len(stages)}] {name}: {seconds:.1f} s wall, {cpu:.1f} s CPU, {peak.peak / 2**20:.0f} MB")
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
