"""Time every stage of the pipeline on simulated data of a given size; write JSON and a markdown table.

    .venv/bin/python benchmarks/bench_pipeline.py --customers 10000

Each stage runs in this process, called directly (the same functions the DAG tasks call), in a
throw-away RAPPORT_HOME. Peak memory is the RSS of the whole process tree, sampled every 50 ms.
Reference ratios measured in the same run:
- ``xgboost_vs_bare``: Rapport's churn training (features, baseline, MLflow logging, registry)
  over a bare ``xgboost.train`` on the same training matrix.
Ratios not measured yet are null (see issue "Benchmarks").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


class PeakRss:
    """Samples the RSS of this process and its children until stopped."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                rss = 0
            self.peak = max(self.peak, rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def bench_xgboost_reference(as_of: date) -> float:
    """Seconds of a bare xgboost.train on the churn model's own training matrix."""
    import xgboost as xgb

    from rapport import warehouse
    from rapport.ml.config import load_model_config
    from rapport.ml.features import configured_churn_cutoffs, load_training_frame

    config = load_model_config("churn")
    cutoffs = configured_churn_cutoffs(as_of, config)
    con = warehouse.connect()
    try:
        frame = load_training_frame(con, cutoffs.train)
    finally:
        con.close()
    features = list(config["features"])
    matrix = xgb.DMatrix(frame[features].astype(float), label=frame["is_churned"].astype(int))
    params = {k: v for k, v in config["xgboost"].items() if k != "n_estimators"}
    started = time.perf_counter()
    xgb.train(params, matrix, num_boost_round=int(config["xgboost"].get("n_estimators", 200)))
    return time.perf_counter() - started


def run(customers: int, days: int, as_of: date) -> dict:
    from rapport import pipeline

    stages: dict[str, dict] = {}

    def stage(name: str, func, *args):
        with PeakRss() as peak:
            started = time.perf_counter()
            result = func(*args)
            seconds = time.perf_counter() - started
        rows = None
        if isinstance(result, dict):
            counted = result.get("rows", result.get("rows_loaded"))
            rows = sum(counted.values()) if isinstance(counted, dict) else counted
        stages[name] = {"seconds": round(seconds, 2), "peak_rss_mb": round(peak.peak / 2**20), "rows": rows}
        print(f"{name:<28} {seconds:8.1f} s  {peak.peak / 2**20:8.0f} MB", flush=True)
        return result

    start = date.fromordinal(as_of.toordinal() - days)
    stage("generate", pipeline.generate, customers, start, days)
    stage("ingest", pipeline.ingest)
    for gate in pipeline.GATES_BEFORE_TRANSFORM:
        stage(f"gate_{gate}", pipeline.validate, gate)
    stage("dbt_build", pipeline.transform, as_of)
    for gate in pipeline.GATES_AFTER_TRANSFORM:
        stage(f"gate_{gate}", pipeline.validate, gate)
    versions = {}
    for model in pipeline.MODELS:
        versions[model] = stage(f"train_{model}", pipeline.train, model, as_of)["model_version"]
        stage(f"promote_{model}", pipeline.promote, model, versions[model])
    for model in pipeline.MODELS:
        stage(f"score_{model}", pipeline.score, model, as_of, "bench")
    for gate in pipeline.GATES_AFTER_SCORING:
        stage(f"gate_{gate}", pipeline.validate, gate)
    stage("publish", pipeline.publish)
    stage("report", pipeline.report, as_of, "bench")

    bare_xgb = bench_xgboost_reference(as_of)
    training = [s for s in stages if s.startswith(("train_", "promote_"))]
    daily = [s for s in stages if s not in training and s != "generate"]
    return {
        "customers": customers,
        "days": days,
        "as_of": as_of.isoformat(),
        "machine": machine(),
        "stages": stages,
        "daily_seconds": round(sum(stages[s]["seconds"] for s in daily), 1),
        "training_seconds": round(sum(stages[s]["seconds"] for s in training), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
        "ratios": {
            "dbt_vs_sql": None,
            "airflow_vs_direct": None,
            "sentiment_vs_torch_fp32": None,
            "xgboost_vs_bare": round(stages["train_churn"]["seconds"] / bare_xgb, 2),
        },
        "sentiment_reviews_per_s": _throughput(stages.get("score_sentiment")),
    }


def _throughput(stage: dict | None) -> float | None:
    if not stage or not stage.get("rows") or not stage["seconds"]:
        return None
    return round(stage["rows"] / stage["seconds"], 1)


def markdown(result: dict) -> str:
    lines = [
        f"Rapport at {result['customers']:,} customers, {result['days']} days ({result['machine']['cpus']} CPUs)",
        "",
        "| stage | seconds | peak RSS (MB) | rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, s in result["stages"].items():
        lines.append(f"| {name} | {s['seconds']} | {s['peak_rss_mb']} | {s['rows'] if s['rows'] is not None else ''} |")
    lines += [
        "",
        f"daily run {result['daily_seconds']} s · training {result['training_seconds']} s · "
        f"peak {result['peak_rss_mb']} MB · xgboost vs bare {result['ratios']['xgboost_vs_bare']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    os.environ["RAPPORT_HOME"] = str(home)
    from rapport.orchestration import TELEMETRY_OFF, apply_environment

    apply_environment(TELEMETRY_OFF)
    result = run(args.customers, args.days, args.as_of)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"{date.today().isoformat()}-{args.customers}"
    (args.output / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / f"{stem}.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    print(f"results: {args.output / stem}.json (state in {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
