"""`rapport bench` at a tiny size, references skipped: the result has the issue's shape and every stage ran.

Measures nothing (timings belong in benchmarks/); it keeps the benchmark runnable as the pipeline changes.
"""

from __future__ import annotations

import json
import os

import pytest

from rapport import cli, pipeline

pytestmark = pytest.mark.slow

CUSTOMERS = 300


@pytest.fixture(scope="module")
def bench_result(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench")
    before = dict(os.environ)
    code = cli.main(["bench", "--customers", str(CUSTOMERS), "--output", str(output), "--no-references"])
    assert code == 0
    assert dict(os.environ) == before, "the benchmark must leave the environment as it found it"
    files = sorted(p.name for p in output.iterdir())
    assert len(files) == 2 and files[0].endswith(f"-{CUSTOMERS}.json") and files[1].endswith(f"-{CUSTOMERS}.md")
    return json.loads((output / files[0]).read_text()), (output / files[1]).read_text()


def test_result_has_the_issue_shape(bench_result):
    result, _ = bench_result
    assert result["customers"] == CUSTOMERS
    assert {"platform", "cpus", "memory_gb", "load_average_1m_start", "load_average_1m_end"} <= set(result["machine"])
    assert set(result["ratios"]) == {"dbt_vs_sql", "airflow_vs_direct", "sentiment_vs_torch_fp32", "xgboost_vs_bare"}
    assert result["ratios"]["xgboost_vs_bare"] > 0
    # skipped with --no-references, but present
    assert result["ratios"]["dbt_vs_sql"] is None and result["ratios"]["airflow_vs_direct"] is None
    for key in ("daily_seconds", "training_seconds", "peak_rss_mb", "sentiment_reviews_per_s"):
        assert result[key] > 0, key
    for name, stage in result["stages"].items():
        assert set(stage) >= {"seconds", "peak_rss_mb", "rows"}, name
        assert stage["seconds"] >= 0 and stage["peak_rss_mb"] > 0, name


def test_every_stage_ran(bench_result):
    result, table = bench_result
    stages = result["stages"]
    run_stages = ["ingest", "apply_deletion_requests", "apply_retention", "transform", "training_due"]
    run_stages += [f"validate_{gate}" for gate in pipeline.GATES_BEFORE_TRANSFORM + pipeline.GATES_AFTER_TRANSFORM]
    run_stages += [f"score_{model}" for model in pipeline.MODELS]
    run_stages += [f"validate_{gate}" for gate in pipeline.GATES_AFTER_SCORING]
    run_stages += ["build_score_marts", "export_campaigns", "publish", "report"]
    expected = {"generate"}
    expected |= {f"initial/{name}" for name in run_stages}
    expected |= {f"initial/{step}_{model}" for model in pipeline.MODELS for step in ("train", "promote")}
    expected |= {f"daily/{name}" for name in run_stages}
    # The initial load trains every model; the daily run retrains only a model the gate refused then (it has no
    # @champion, so training_due says so): fresh champions are not retrained.
    assert set(stages["initial/training_due"]["due"]) == set(pipeline.MODELS)
    retrained = stages["daily/training_due"]["due"]
    assert all(reason.endswith("has no @champion yet") for reason in retrained.values()), retrained
    expected |= {f"daily/{step}_{model}" for model in retrained for step in ("train", "promote")}
    assert set(stages) == expected
    assert stages["generate"]["rows"] > stages["daily/ingest"]["rows"] > 0
    assert stages["initial/ingest"]["rows"] > stages["daily/ingest"]["rows"]
    assert result["training_seconds"] == pytest.approx(
        sum(s["seconds"] for name, s in stages.items() if name.startswith(("initial/train_", "initial/promote_"))),
        abs=0.1,
    )
    assert result["daily_seconds"] == pytest.approx(
        sum(s["seconds"] for name, s in stages.items() if name.startswith("daily/")), abs=0.1
    )
    for name in stages:
        assert f"| {name} |" in table
