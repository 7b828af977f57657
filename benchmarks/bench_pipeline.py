"""Rapport as a user runs it, stage by stage, beside four references measured in the same run.

    .venv/bin/python benchmarks/bench_pipeline.py --customers 10000      # make bench / rapport bench

Phases, each stage timed with the peak RSS of the whole process tree (sampled every 50 ms):

- ``generate``: ``--days`` of simulated history whose last day is the day before ``--as-of`` (D);
- ``initial``: the first run a new installation does, in this process: ingest every landing file dated
  before D-1, deletion requests, retention, gates, dbt build, train and promote every model, score
  (sentiment of all history), score marts, output gates, campaign export, publish, report, as of D-1;
- ``daily``: the nightly run as of D, in a fresh interpreter on a copy of that state (RAPPORT_HOME:
  warehouse, MLflow store, landing folder with D-1's files added): ingest one day's files, deletion
  requests, retention, gates, dbt build, training check (the champions are fresh, so nothing trains), score
  (sentiment of that day's new reviews only), write-back, score marts, gates, export, publish, report.

References (ratios: Rapport's time over the reference's; sentiment: Rapport's throughput over the reference's):

- ``airflow_vs_direct``: the same daily run through the all-in-one DAG (``dag.test``) in another fresh
  interpreter on another copy of the same pre-daily state, over the direct daily run (bench_airflow.py);
- ``dbt_vs_sql``: on the direct daily run's warehouse, ``dbt build`` of the whole project with the as-of
  date as the only feature cutoff over ``reference_sql/rapport_marts.sql`` (the same models by hand,
  bench_dbt.py); ``dbt_daily_vs_sql`` (extra) sets the daily run's own dbt stages (every feature cutoff
  the models need) against the same reference;
- ``sentiment_vs_torch_fp32``: Rapport's scorer over the champion's encoder as plain ``transformers`` fp32,
  batch 32, input order (bench_sentiment.py), on the same sample of the warehouse's reviews;
- ``xgboost_vs_bare``: the initial churn training over a bare ``xgboost.train`` on the same matrix.

``--no-references`` skips the first three (their keys stay, as null): the smoke test's setting.
Results: ``<output>/<date>-<customers>.json`` and ``.md``; the table compares each stage with the latest
result of the next smaller size found in ``<output>`` (growth factor, flagged when clearly worse than linear).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from numbers import Integral
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RATIO_GOALS = {  # ratio: (comparison, goal) from the issue "Benchmarks"
    "dbt_vs_sql": ("<=", 1.5),
    "airflow_vs_direct": ("<=", 1.5),
    "sentiment_vs_torch_fp32": (">=", 4.0),
    "xgboost_vs_bare": ("<=", 1.5),
}
GOALS_1M = {"daily_seconds": 600, "training_seconds": 1800, "peak_rss_mb": 8192}
SENTIMENT_SAMPLE = 2000
WORSE_THAN_LINEAR = 1.5  # flag a stage whose growth factor exceeds the size factor by this much
RESULT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(\d+)\.json$")
DAY = re.compile(r"_(\d{4}-\d{2}-\d{2})$")


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


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- stages ----------------------------------------------------------------------------------------------------


class Stages:
    """Times stages into ``self.stages``: seconds, peak RSS of the process tree, rows (when the result says)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.stages: dict[str, dict] = {}

    def __call__(self, name: str, func: Callable, *args, **kwargs):
        with PeakRss() as peak:
            started = time.perf_counter()
            result = func(*args, **kwargs)
            seconds = time.perf_counter() - started
        name = f"{self.prefix}{name}"
        self.stages[name] = {
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak.peak / 2**20),
            "rows": rows_of(result),
        }
        print(f"{name:<40} {seconds:8.1f} s  {peak.peak / 2**20:8.0f} MB", flush=True)
        return result

    def note(self, name: str, **values) -> None:
        self.stages[f"{self.prefix}{name}"].update(values)


def rows_of(result) -> int | None:
    """Rows a stage reports: ingested rows, written scores, generated rows (summed over tables)."""
    if not isinstance(result, dict):
        return None
    counted = result.get("rows_loaded", result.get("rows"))
    if isinstance(counted, dict):
        return int(sum(counted.values()))
    return int(counted) if isinstance(counted, Integral) else None


def newly_scored_reviews(run_id: str) -> int:
    """Reviews the sentiment model read in this scoring run (the rest of the partition kept earlier scores)."""
    from rapport import warehouse

    con = warehouse.connect()
    try:
        if not warehouse.table_exists(con, "ml", "review_sentiment"):
            return 0
        return con.execute("select count(*) from ml.review_sentiment where scoring_run_id = ?", [run_id]).fetchone()[0]
    finally:
        con.close()


def pipeline_run(as_of: date, run_id: str, stage: Stages) -> None:
    """One run of the flow in the all-in-one DAG's order, each stage through ``stage``.

    Like the DAG, a model trains (and meets the promotion gate) only when training is due: the first run
    trains every model, a nightly run with fresh champions none.
    """
    from rapport import pipeline

    stage("ingest", pipeline.ingest)
    stage("apply_deletion_requests", pipeline.apply_deletion_requests)
    stage("apply_retention", pipeline.apply_retention, as_of)
    for gate in pipeline.GATES_BEFORE_TRANSFORM:
        stage(f"validate_{gate}", pipeline.validate, gate, run_id, as_of)
    stage("transform", pipeline.transform, as_of)
    for gate in pipeline.GATES_AFTER_TRANSFORM:
        stage(f"validate_{gate}", pipeline.validate, gate, run_id, as_of)
    due = stage("training_due", lambda: {m: pipeline.training_due(m) for m in pipeline.MODELS})
    stage.note("training_due", due={m: d["reason"] for m, d in due.items() if d["due"]})
    for model in pipeline.MODELS:
        if due[model]["due"]:
            trained = stage(f"train_{model}", pipeline.train, model, as_of)
            stage(f"promote_{model}", pipeline.promote, model, trained["model_version"])
    for model in pipeline.MODELS:
        stage(f"score_{model}", pipeline.score, model, as_of, run_id)
    stage.note("score_sentiment", reviews_scored=newly_scored_reviews(run_id))
    stage("build_score_marts", pipeline.build_score_marts, as_of)
    for gate in pipeline.GATES_AFTER_SCORING:
        stage(f"validate_{gate}", pipeline.validate, gate, run_id, as_of)
    stage("export_campaigns", pipeline.export_campaigns, as_of)
    stage("publish", pipeline.publish)
    stage("report", pipeline.report, as_of, run_id)


def daily_run(as_of: date) -> dict:
    """The nightly run as of ``as_of`` on the state in RAPPORT_HOME: what the direct child prints."""
    from rapport.pipeline import new_run_id

    stage = Stages()
    started = time.perf_counter()
    pipeline_run(as_of, new_run_id(), stage)
    return {"seconds": time.perf_counter() - started, "stages": stage.stages}


# A fresh interpreter, like a nightly job; its stages are this module's. Argument: as-of date.
DAILY_DIRECT = f"""
import json, sys
from datetime import date
sys.path.insert(0, {str(HERE)!r})
import bench_pipeline
print(json.dumps(bench_pipeline.daily_run(date.fromisoformat(sys.argv[1]))))
"""

# dbt build of the whole project (the as-of date the only feature cutoff) against the hand-written SQL, then the
# two outputs compared (bench_dbt.py). Argument: as-of date.
DBT_VS_SQL = f"""
import json, sys
from datetime import date
sys.path.insert(0, {str(HERE)!r})
import bench_dbt
from rapport.transform import build
as_of = date.fromisoformat(sys.argv[1])
dbt_seconds, _ = bench_dbt.timed(build, as_of, feature_cutoffs=[as_of])
reference_seconds, _ = bench_dbt.timed(bench_dbt.run_reference, as_of)
print(json.dumps({{"dbt_build_seconds": dbt_seconds, "reference_sql_seconds": reference_seconds,
                  "outputs": bench_dbt.compare_outputs()}}))
"""


# --- state -----------------------------------------------------------------------------------------------------


def link_landing(source: Path, target: Path, keep: Callable[[date | None], bool]) -> int:
    """Hard-link the landing files of ``source`` whose file date passes ``keep`` into ``target``; returns how many."""
    linked = 0
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        match = DAY.search(path.stem)
        if keep(date.fromisoformat(match.group(1)) if match else None):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                os.link(path, destination)
            linked += 1
    return linked


def copy_home(home: Path, target: Path) -> Path:
    """A copy of a RAPPORT_HOME (landing files hard-linked: ingestion only reads them, retention unlinks)."""
    from rapport import warehouse

    con = warehouse.connect()
    try:
        con.execute("checkpoint")
    finally:
        con.close()

    def ignore(folder: str, names: list[str]) -> list[str]:
        top = Path(folder) == home
        return [n for n in names if n.endswith(".lock") or (top and n in ("landing", "generated"))]

    shutil.copytree(home, target, ignore=ignore)
    if (home / "landing").is_dir():
        shutil.copytree(home / "landing", target / "landing", copy_function=os.link)
    return target


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for a block; the whole environment is restored after it."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- references ------------------------------------------------------------------------------------------------


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


def bench_sentiment_reference(as_of: date, sample: int) -> dict:
    """Reviews per second of Rapport's scorer (the champion, its configured runtime) and of the same encoder as
    plain fp32 ``transformers`` (batch 32, input order; bench_sentiment.py), on the same sample of reviews."""
    from bench_sentiment import BATCH_SIZE, plain_transformers

    from rapport import warehouse
    from rapport.ml.sentiment import SentimentScorer, reviews_to_score

    con = warehouse.connect()
    try:
        reviews = reviews_to_score(con, as_of)
    finally:
        con.close()
    texts = reviews.sample(min(sample, len(reviews)), random_state=42)["text"].tolist()
    scorer = SentimentScorer.load()
    paths = {
        "rapport": scorer.score,
        "torch_fp32": plain_transformers(scorer.model, scorer.tokenizer, scorer.max_length, sort=False),
    }
    seconds = {}
    for name, predict in paths.items():
        predict(texts[:BATCH_SIZE])  # warm-up
        started = time.perf_counter()
        predict(texts)
        seconds[name] = time.perf_counter() - started
    return {
        "reviews": len(texts),
        "runtime": scorer.runtime,
        "encoder_layers": scorer.model.config.num_hidden_layers,
        "rapport_reviews_per_s": round(len(texts) / seconds["rapport"], 1),
        "torch_fp32_reviews_per_s": round(len(texts) / seconds["torch_fp32"], 1),
        "ratio": round(seconds["torch_fp32"] / seconds["rapport"], 2),
    }


# --- the run ---------------------------------------------------------------------------------------------------


def run(
    customers: int, days: int, as_of: date, home: Path, references: bool = True, sample: int = SENTIMENT_SAMPLE
) -> dict:
    """Every phase and reference in ``home`` (a throw-away RAPPORT_HOME); returns the result object."""
    from bench_airflow import daily_through_airflow, run_child

    from rapport.pipeline import new_run_id

    load_start = load_average()
    first_day = as_of - timedelta(days=days)
    last_day = as_of - timedelta(days=1)  # the daily run's new files
    initial_as_of = last_day
    generated = home / "generated"
    stage = Stages()
    stage("generate", _generate, generated, customers, first_day, days)

    initial = Stages("initial/")
    with environment(RAPPORT_HOME=str(home)):
        for name in ("RAPPORT_WAREHOUSE", "RAPPORT_LANDING_DIR", "RAPPORT_SERVING_PATH", "MLFLOW_TRACKING_URI"):
            os.environ.pop(name, None)
        link_landing(generated, home / "landing", lambda day: day is None or day < last_day)
        pipeline_run(initial_as_of, new_run_id(), initial)
        bare_xgb = bench_xgboost_reference(initial_as_of)
        sentiment = _reference("sentiment", bench_sentiment_reference, initial_as_of, sample) if references else None
        daily_files = link_landing(generated, home / "landing", lambda day: day is not None and day >= last_day)
        direct_home = copy_home(home, home.parent / f"{home.name}-daily-direct")
        airflow_home = copy_home(home, home.parent / f"{home.name}-daily-airflow") if references else None

    try:
        print(f"daily run as of {as_of} ({daily_files} new files), direct, in a fresh interpreter ...", flush=True)
        direct = run_child(DAILY_DIRECT, direct_home, as_of.isoformat())
        for name, values in direct["stages"].items():
            print(f"daily/{name:<34} {values['seconds']:8.1f} s  {values['peak_rss_mb']:8.0f} MB", flush=True)
        airflow = dbt = None
        if references:
            print("the same daily run through Airflow (dag.test) ...", flush=True)
            airflow = _reference("airflow", daily_through_airflow, airflow_home, as_of)
            print("dbt build vs the reference SQL on the direct run's warehouse ...", flush=True)
            dbt = _reference("dbt", run_child, DBT_VS_SQL, direct_home, as_of.isoformat())
    finally:
        for copy in (direct_home, airflow_home):
            if copy is not None:
                shutil.rmtree(copy, ignore_errors=True)

    stages = {**stage.stages, **initial.stages, **{f"daily/{k}": v for k, v in direct["stages"].items()}}
    daily = {k: v for k, v in stages.items() if k.startswith("daily/")}
    training = {k: v for k, v in stages.items() if k.startswith(("initial/train_", "initial/promote_"))}
    daily_dbt = stages["daily/transform"]["seconds"] + stages["daily/build_score_marts"]["seconds"]
    initial_sentiment = stages["initial/score_sentiment"]
    references_error = {
        k: v["error"] for k, v in (("airflow", airflow), ("dbt", dbt), ("sentiment", sentiment)) if v and "error" in v
    }
    airflow, dbt, sentiment = (None if v and "error" in v else v for v in (airflow, dbt, sentiment))
    ratios = {
        "dbt_vs_sql": round(dbt["dbt_build_seconds"] / dbt["reference_sql_seconds"], 2) if dbt else None,
        "airflow_vs_direct": round(airflow["seconds"] / direct["seconds"], 2) if airflow else None,
        "sentiment_vs_torch_fp32": sentiment["ratio"] if sentiment else None,
        "xgboost_vs_bare": round(stages["initial/train_churn"]["seconds"] / bare_xgb, 2),
    }
    return {
        "customers": customers,
        "days": days,
        "as_of": as_of.isoformat(),
        "initial_as_of": initial_as_of.isoformat(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**machine(), "load_average_1m_start": load_start, "load_average_1m_end": load_average()},
        "stages": stages,
        "daily_seconds": round(sum(s["seconds"] for s in daily.values()), 1),
        "training_seconds": round(sum(s["seconds"] for s in training.values()), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
        "ratios": ratios,
        "sentiment_reviews_per_s": _throughput(initial_sentiment),
        "phases": {
            "generate_seconds": stages["generate"]["seconds"],
            "initial_seconds": round(sum(v["seconds"] for k, v in stages.items() if k.startswith("initial/")), 1),
            "daily_seconds": round(sum(s["seconds"] for s in daily.values()), 1),
            "daily_new_files": daily_files,
            "daily_reviews_scored": direct["stages"]["score_sentiment"].get("reviews_scored"),
            "daily_process_seconds": direct["process_seconds"],
        },
        "references": {
            "xgboost_bare_seconds": round(bare_xgb, 2),
            "airflow": None
            if airflow is None
            else {
                "dag_test_seconds": round(airflow["seconds"], 1),
                "direct_seconds": round(direct["seconds"], 1),
                "metadata_db_prepare_seconds": round(airflow["prepare_seconds"], 1),
                "process_seconds": {"airflow": airflow["process_seconds"], "direct": direct["process_seconds"]},
                "tasks": len(airflow["stages"]),
                "task_seconds": {k: round(v, 2) for k, v in airflow["stages"].items()},
            },
            "dbt": None
            if dbt is None
            else {
                "dbt_build_seconds": dbt["dbt_build_seconds"],
                "reference_sql_seconds": dbt["reference_sql_seconds"],
                "daily_dbt_seconds": round(daily_dbt, 2),
                "dbt_daily_vs_sql": round(daily_dbt / dbt["reference_sql_seconds"], 2),
                "outputs": dbt["outputs"],
            },
            "sentiment": sentiment,
            "errors": references_error,
        },
    }


def _reference(name: str, func: Callable, *args) -> dict:
    """A reference's measurement, or ``{"error": ...}`` when it failed: the stages' numbers are kept either way."""
    try:
        return func(*args)
    except Exception as exc:  # noqa: BLE001 - reported in the result, its ratio left null
        print(f"reference {name} failed: {exc}", file=sys.stderr, flush=True)
        return {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}


def _generate(landing: Path, customers: int, start: date, days: int) -> dict:
    from rapport.simulate import generate

    return {"rows": generate(landing, customers=customers, start=start, days=days, seed=42)}


def _throughput(stage: dict) -> float | None:
    reviews = stage.get("reviews_scored")
    return round(reviews / stage["seconds"], 1) if reviews and stage["seconds"] else None


# --- output ----------------------------------------------------------------------------------------------------


def previous_results(folder: Path, customers: int) -> dict[int, dict]:
    """The latest result per size in ``folder`` (files ``<date>-<customers>.json``), other sizes than ``customers``."""
    latest: dict[int, tuple[str, Path]] = {}
    for path in folder.glob("*.json") if folder.is_dir() else []:
        match = RESULT_NAME.match(path.name)
        if match and int(match.group(2)) != customers and match.group(1) >= latest.get(int(match.group(2)), ("",))[0]:
            latest[int(match.group(2))] = (match.group(1), path)
    found = {size: json.loads(path.read_text()) for size, (_, path) in sorted(latest.items())}
    return {size: result for size, result in found.items() if {"customers", "stages"} <= set(result)}


def scaling(result: dict, others: dict[int, dict]) -> dict | None:
    """Each stage's time against the next smaller size's: growth factor, flagged when clearly worse than linear."""
    smaller = [size for size in others if size < result["customers"]]
    if not smaller:
        return None
    base = others[max(smaller)]
    size_factor = result["customers"] / base["customers"]
    stages = {}
    for name, now in result["stages"].items():
        before = base["stages"].get(name)
        if not before or not before.get("seconds"):
            continue
        factor = now["seconds"] / before["seconds"]
        # sub-second stages are mostly fixed cost and noise: never flagged
        flagged = factor > WORSE_THAN_LINEAR * size_factor and now["seconds"] >= 1
        stages[name] = {"seconds_before": before["seconds"], "factor": round(factor, 2), "worse_than_linear": flagged}
    return {"compared_with": base["customers"], "size_factor": round(size_factor, 2), "stages": stages}


def _goal_met(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    comparison, goal = RATIO_GOALS[name]
    met = value <= goal if comparison == "<=" else value >= goal
    return "met" if met else "**missed**"


def _cell(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Rapport at {result['customers']:,} customers, {result['days']} days of history; daily run as of "
        f"{result['as_of']} ({m['cpus']} CPUs, {m['memory_gb']} GiB; load average {m['load_average_1m_start']} at the "
        f"start, {m['load_average_1m_end']} at the end)",
        "",
        "| stage | seconds | peak RSS (MB) | rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, s in result["stages"].items():
        lines.append(f"| {name} | {s['seconds']} | {s['peak_rss_mb']:,} | {_cell(s['rows'])} |")
    phases = result["phases"]
    lines += [
        "",
        f"generate {phases['generate_seconds']} s · initial load {phases['initial_seconds']} s · "
        f"**daily run {result['daily_seconds']} s** (goal at 1M: < {GOALS_1M['daily_seconds']} s; "
        f"{phases['daily_reviews_scored']} new reviews scored) · **training {result['training_seconds']} s** "
        f"(goal at 1M: < {GOALS_1M['training_seconds']} s) · **peak {result['peak_rss_mb']:,} MB** (goal: < "
        f"{GOALS_1M['peak_rss_mb']:,} MB) · sentiment {result['sentiment_reviews_per_s']} reviews/s in the pipeline",
        "",
        "| ratio | value | goal | |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, value in result["ratios"].items():
        comparison, goal = RATIO_GOALS[name]
        lines.append(f"| {name} | {_cell(value)} | {comparison} {goal} | {_goal_met(name, value)} |")
    references = result["references"]
    if references.get("dbt"):
        dbt = references["dbt"]
        lines.append(
            f"\ndbt: build {dbt['dbt_build_seconds']} s vs reference SQL {dbt['reference_sql_seconds']} s; the daily "
            f"run's own dbt stages (every feature cutoff) {dbt['daily_dbt_seconds']} s = {dbt['dbt_daily_vs_sql']}x."
        )
    if references.get("airflow"):
        airflow = references["airflow"]
        lines.append(
            f"\nAirflow: dag.test {airflow['dag_test_seconds']} s ({airflow['tasks']} tasks) vs direct "
            f"{airflow['direct_seconds']} s; metadata DB migration (not counted) {airflow['metadata_db_prepare_seconds']} s."
        )
    if references.get("sentiment"):
        s = references["sentiment"]
        lines.append(
            f"\nSentiment on {s['reviews']:,} warehouse reviews: Rapport's scorer ({s['runtime']}, "
            f"{s['encoder_layers']} layers) {s['rapport_reviews_per_s']} reviews/s vs plain fp32 batch-32 "
            f"{s['torch_fp32_reviews_per_s']} reviews/s."
        )
    for name, error in references.get("errors", {}).items():
        lines.append(f"\nReference {name} failed: {error.splitlines()[-1] if error else error}")
    grown = result.get("scaling")
    if grown:
        lines += [
            "",
            f"Scaling from {grown['compared_with']:,} customers (size x{grown['size_factor']}):",
            "",
            "| stage | seconds before | seconds now | growth | |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for name, g in grown["stages"].items():
            flag = "**worse than linear**" if g["worse_than_linear"] else ""
            lines.append(
                f"| {name} | {g['seconds_before']} | {result['stages'][name]['seconds']} | x{g['factor']} | {flag} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730, help="days of history before the as-of date (default 730)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 1), help="the daily run's date")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    parser.add_argument(
        "--no-references", action="store_true", help="skip the Airflow, dbt and sentiment references (smoke test)"
    )
    parser.add_argument("--sentiment-sample", type=int, default=SENTIMENT_SAMPLE, help="reviews for the reference")
    parser.add_argument("--keep-home", action="store_true", help="keep the benchmark's RAPPORT_HOME")
    args = parser.parse_args(argv)

    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # the other bench modules, when called from `rapport bench`
    from rapport.orchestration import TELEMETRY_OFF

    home = Path(tempfile.mkdtemp(prefix="rapport-bench-"))
    try:
        with environment(**TELEMETRY_OFF):
            result = run(args.customers, args.days, args.as_of, home, not args.no_references, args.sentiment_sample)
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    result["scaling"] = scaling(result, previous_results(args.output, args.customers))
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / f"{date.today().isoformat()}-{args.customers}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"results: {stem}.json" + (f" (state in {home})" if args.keep_home else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
