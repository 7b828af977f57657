"""Every DAG file imports cleanly and fast, carries tags and retries, and keeps heavy libraries out of parsing.

The DAG folder is parsed once, in a fresh interpreter (as the DAG processor does), and each file is
checked on its own (test ids are the file names).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
HEAVY = ("torch", "transformers", "xgboost", "mlflow", "great_expectations", "pandas", "dbt", "sklearn", "duckdb")
PARSE_BUDGET_SECONDS = 5.0

PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - started
dags = {d: {"file": dag.fileloc, "tags": sorted(dag.tags), "retries": [t.retries for t in dag.tasks],
            "tasks": len(dag.tasks), "catchup": dag.catchup} for d, dag in bag.dags.items()}
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags, "heavy": heavy,
                  "seconds": seconds}))
"""


@pytest.fixture(scope="module")
def parsed_folder():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS_DIR), ",".join(HEAVY)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=DAG_FILES, ids=[f.name for f in DAG_FILES])
def parsed(request, parsed_folder):
    path = str(request.param)
    return {
        "errors": {k: v for k, v in parsed_folder["errors"].items() if k == path},
        "dags": {d: dag for d, dag in parsed_folder["dags"].items() if dag["file"] == path},
    }


def test_dag_file_imports_without_errors(parsed):
    assert parsed["errors"] == {}
    assert parsed["dags"], "the file defines no DAG"


def test_dag_file_is_named_after_its_dag(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert Path(dag["file"]).stem == dag_id


def test_dags_have_tags_retries_and_no_catchup(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert dag["tags"], dag_id
        assert all(r >= 1 for r in dag["retries"]), dag_id
        assert dag["catchup"] is False, dag_id


def test_parsing_leaves_heavy_libraries_unimported(parsed_folder):
    assert parsed_folder["heavy"] == []


def test_the_whole_dag_folder_parses_within_budget(parsed_folder):
    assert parsed_folder["seconds"] < PARSE_BUDGET_SECONDS, parsed_folder["seconds"]
