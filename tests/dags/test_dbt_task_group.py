"""dbt per model in Airflow (RAPPORT_DBT_TASKS=models): cosmos renders the transform DAG from a prebuilt
manifest, one run and one test task per core model, wired as dbt's graph, without running dbt at parse time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAPPORT = str(Path(sys.executable).with_name("rapport"))

PROBE = """
import json, sys, time
started = time.perf_counter()
from rapport.airflow_run import load_dag
dag = load_dag(dag_id="rapport_transform")
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "pool": t.pool, "retries": t.retries}
              for t in dag.tasks},
    "dbt_imported": [m for m in ("dbt.cli.main", "dbt.adapters.duckdb") if m in sys.modules],
}))
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Build the manifest with `rapport dbt-manifest`, then parse the transform DAG in models mode."""
    home = tmp_path_factory.mktemp("cosmos_home")
    env = {**os.environ, "RAPPORT_HOME": str(home), "RAPPORT_DBT_TASKS": "models"}
    built = subprocess.run([RAPPORT, "dbt-manifest"], env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    manifest = json.loads((home / "dbt" / "target" / "manifest.json").read_text())
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    return {"manifest": manifest, "dag": json.loads(probe.stdout.strip().splitlines()[-1])}


def _models(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def _reads_scores(name: str, models: dict[str, dict], manifest: dict) -> bool:
    """True when the model is downstream of the ml.* score sources (dbt selector `score_marts`)."""
    parents = models[name]["depends_on"]["nodes"]
    if any(p.startswith("source.") and manifest["sources"][p]["source_name"] == "ml" for p in parents):
        return True
    return any(_reads_scores(p.split(".")[-1], models, manifest) for p in parents if p.startswith("model."))


def test_every_core_model_gets_a_run_and_a_test_task_and_score_marts_none(rendered):
    manifest, tasks = rendered["manifest"], rendered["dag"]["tasks"]
    models = _models(manifest)
    core = {name for name in models if not _reads_scores(name, models, manifest)}
    assert core and core != set(models), "expected both core models and score marts in the project"
    for name in core:
        assert f"dbt.{name}.run" in tasks, name
    for name in set(models) - core:
        assert f"dbt.{name}.run" not in tasks, f"{name} reads the scores: it is built after scoring, not here"
    tested = {n.get("attached_node") for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    for name in core:
        if models[name]["unique_id"] in tested:
            assert tasks[f"dbt.{name}.test"]["upstream"] == [f"dbt.{name}.run"], name


def test_each_model_runs_after_its_parents_passed_their_tests(rendered):
    manifest, tasks = rendered["manifest"], rendered["dag"]["tasks"]
    models = _models(manifest)
    for name, node in models.items():
        run = tasks.get(f"dbt.{name}.run")
        if run is None:
            continue
        for parent in node["depends_on"]["nodes"]:
            parent_name = parent.split(".")[-1]
            if parent.startswith("model.") and f"dbt.{parent_name}.test" in tasks:
                assert f"dbt.{parent_name}.test" in run["upstream"], (name, parent_name)
        if not any(p.startswith("model.") for p in node["depends_on"]["nodes"]):
            assert run["upstream"] == ["dbt_vars"], name


def test_dbt_tasks_take_the_warehouse_pool_and_retry(rendered):
    for task_id, task in rendered["dag"]["tasks"].items():
        assert task["pool"] == "warehouse" or task_id.endswith("_ready"), task_id
        assert task["retries"] >= 1, task_id


def test_rendering_from_the_manifest_never_runs_dbt(rendered):
    assert rendered["dag"]["dbt_imported"] == []
