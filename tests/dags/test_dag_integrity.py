"""Every DAG file imports cleanly, carries tags and retries, and keeps heavy libraries out of parsing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
HEAVY = ("torch", "transformers", "xgboost", "mlflow", "great_expectations", "pandas", "dbt", "sklearn")

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dags = {d: {"tags": sorted(dag.tags), "retries": [t.retries for t in dag.tasks], "tasks": len(dag.tasks),
            "catchup": dag.catchup} for d, dag in bag.dags.items()}
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags, "heavy": heavy}))
"""


@pytest.fixture(scope="module", params=DAG_FILES, ids=[f.name for f in DAG_FILES])
def parsed(request):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(request.param), ",".join(HEAVY)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dag_file_imports_without_errors(parsed):
    assert parsed["errors"] == {}
    assert parsed["dags"], "the file defines no DAG"


def test_dags_have_tags_retries_and_no_catchup(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert dag["tags"], dag_id
        assert all(r >= 1 for r in dag["retries"]), dag_id
        assert dag["catchup"] is False, dag_id


def test_parsing_leaves_heavy_libraries_unimported(parsed):
    assert parsed["heavy"] == []


def test_pipeline_dag_wires_every_stage_in_order():
    from rapport.airflow_run import load_dag

    dag = load_dag()
    order = [
        "ingest",
        "validate_raw_orders",
        "transform",
        "validate_customer_360",
        "train_churn",
        "promote_churn",
        "score_churn",
        "validate_scores",
        "publish",
        "report",
    ]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert downstream in dag.get_task(upstream).get_direct_relative_ids(upstream=False) or (
            upstream in dag.get_task(downstream).get_flat_relative_ids(upstream=True)
        ), (upstream, downstream)
