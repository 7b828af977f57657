"""What running the pipeline through Airflow costs: the all-in-one DAG (dag.test) against the same
`rapport.pipeline` functions called directly, on the same simulated landing files.

    .venv/bin/python benchmarks/bench_airflow.py --customers 500

The data set is generated once; each mode then runs in a fresh interpreter with its own RAPPORT_HOME
holding a copy of those landing files, so neither warms the other's caches. Airflow's share is the
DAG's wall time over the direct run's (``ratio``) and, per task, the task's wall time in the metadata
DB against its stage's time when called directly. JSON goes to benchmarks/results/airflow-<date>-<n>.json.

``daily_through_airflow`` is the same measurement for one daily run from an existing state, used by
``bench_pipeline.py`` (its ``airflow_vs_direct`` ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
AS_OF = date(2026, 11, 1)
START = date(2024, 11, 1)

CHILD = {
    "direct": """
import json, sys, time
from datetime import date
from rapport import pipeline
started = time.perf_counter()
summary = pipeline.run(date.fromisoformat(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "stages": {k: v["seconds"] for k, v in summary["stages"].items()}}))
""",
    "airflow": """
import json, sys, time
from datetime import date
from rapport.airflow_run import run_dag
started = time.perf_counter()
result = run_dag(date.fromisoformat(sys.argv[1]))
seconds = time.perf_counter() - started
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    rows = session.query(TaskInstance).filter(TaskInstance.run_id == result["run_id"]).all()
    tasks = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in rows if ti.start_date and ti.end_date}
print(json.dumps({"seconds": seconds, "stages": tasks, "state": result["state"]}))
""",
}

# The daily run of an existing RAPPORT_HOME through the all-in-one DAG: the metadata DB is migrated first and not
# timed (a deployment has one already); the DAG's parse and its dag.test() run are. Argument: as-of date.
DAILY_THROUGH_AIRFLOW = """
import json, sys, time
from datetime import UTC, date, datetime
from rapport.airflow_run import load_dag, prepare_airflow
as_of = date.fromisoformat(sys.argv[1])
started = time.perf_counter()
prepare_airflow()
prepared = time.perf_counter() - started
started = time.perf_counter()
dag = load_dag()
dag_run = dag.test(logical_date=datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC),
                   run_conf={"as_of": as_of.isoformat()})
seconds = time.perf_counter() - started
states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
tasks = {ti.task_id: (ti.end_date - ti.start_date).total_seconds()
         for ti in dag_run.get_task_instances() if ti.start_date and ti.end_date}
print(json.dumps({"seconds": seconds, "prepare_seconds": prepared, "state": str(dag_run.state),
                  "stages": tasks, "task_states": states}))
"""

# Settings a child must derive from its own RAPPORT_HOME, never inherit from the parent.
INHERITED_STATE = (
    "RAPPORT_WAREHOUSE",
    "RAPPORT_LANDING_DIR",
    "RAPPORT_SERVING_PATH",
    "RAPPORT_DBT_MANIFEST",
    "MLFLOW_TRACKING_URI",
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
)


def run_child(code: str, home: Path, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter with RAPPORT_HOME=``home``; returns the JSON object it prints last,
    with ``process_seconds`` (the child's whole wall time: interpreter start, imports and all)."""
    env = {**os.environ, "RAPPORT_HOME": str(home)}
    for name in INHERITED_STATE:
        env.pop(name, None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child run in {home} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "process_seconds": round(time.perf_counter() - started, 1)}


def daily_through_airflow(home: Path, as_of: date) -> dict:
    """The all-in-one DAG's run as of ``as_of`` (dag.test) on the state in ``home``, in a fresh interpreter."""
    result = run_child(DAILY_THROUGH_AIRFLOW, home, as_of.isoformat())
    if result["state"] != "success":
        failed = sorted(t for t, s in result["task_states"].items() if s not in ("success", "skipped"))
        raise RuntimeError(f"the DAG run in {home} ended {result['state']}; not successful: {failed}")
    return result


def run_mode(mode: str, landing: Path, workdir: Path) -> dict:
    """Run one mode in a fresh interpreter on its own copy of the landing files."""
    home = workdir / mode
    shutil.copytree(landing, home / "landing")
    return run_child(CHILD[mode], home, AS_OF.isoformat())


def per_stage_overhead(direct: dict, airflow: dict) -> dict:
    """Airflow task time minus the same stage called directly, for the stages both ran."""
    return {
        name: round(airflow["stages"][name] - seconds, 2)
        for name, seconds in direct["stages"].items()
        if name in airflow["stages"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()
    from rapport.simulate import generate

    with tempfile.TemporaryDirectory(prefix="rapport-bench-airflow-") as tmp:
        workdir = Path(tmp)
        landing = workdir / "landing"
        generate(landing, customers=args.customers, days=(AS_OF - START).days, seed=42, start=START)
        direct = run_mode("direct", landing, workdir)
        airflow = run_mode("airflow", landing, workdir)
    overhead = per_stage_overhead(direct, airflow)
    result = {
        "benchmark": "airflow_vs_direct",
        "customers": args.customers,
        "as_of": AS_OF.isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "direct_seconds": round(direct["seconds"], 1),
        "airflow_seconds": round(airflow["seconds"], 1),
        "ratio": round(airflow["seconds"] / direct["seconds"], 2),
        "airflow_tasks": len(airflow["stages"]),
        "median_task_overhead_seconds": sorted(overhead.values())[len(overhead) // 2] if overhead else None,
        "stage_overhead_seconds": overhead,
        "direct": direct,
        "airflow": airflow,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"airflow-{date.today().isoformat()}-{args.customers}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("direct", "airflow")}, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
