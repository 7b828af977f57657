"""The DAGs' wiring: stage order, the Asset chain between the production DAGs, pools, retries, alerts, params."""

from __future__ import annotations

import pytest

from rapport import pipeline
from rapport.orchestration import (
    CHAINED_DAG_IDS,
    DAG_ID,
    INGEST_DAG_ID,
    RAW_ASSET_URI,
    REPORT_DAG_ID,
    SCORE_DAG_ID,
    SCORES_ASSET_URI,
    TRAIN_DAG_ID,
    TRANSFORM_DAG_ID,
    WAREHOUSE_ASSET_URI,
    WAREHOUSE_POOL,
    alert_on_failure,
)

ALL_DAG_IDS = (DAG_ID, *CHAINED_DAG_IDS)
# The only tasks that never open the DuckDB warehouse: the promotion gates talk to MLflow alone, and the
# tasks that only announce an Asset.
OUTSIDE_THE_POOL = {f"promote_{model}" for model in pipeline.MODELS} | {"marts_ready"}


@pytest.fixture(scope="module")
def dags():
    from rapport.airflow_run import load_dag

    return {dag_id: load_dag(dag_id=dag_id) for dag_id in ALL_DAG_IDS}


def _upstream_of(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).get_flat_relative_ids(upstream=True))


def _downstream_of(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).get_flat_relative_ids(upstream=False))


def _outlet_uris(dag) -> dict[str, list[str]]:
    return {t.task_id: [a.uri for a in t.outlets] for t in dag.tasks if t.outlets}


def _schedule_uris(dag) -> set[str]:
    return {asset.uri for asset in getattr(dag.timetable, "asset_condition", None).objects}


def _gates(gates) -> list[str]:
    return [f"validate_{gate}" for gate in gates]


def test_all_in_one_dag_runs_every_stage_in_the_flow_order(dags):
    dag = dags[DAG_ID]
    order = [
        "ingest",
        "apply_deletion_requests",
        "apply_retention",
        *_gates(pipeline.GATES_BEFORE_TRANSFORM),
        "transform",
        *_gates(pipeline.GATES_AFTER_TRANSFORM),
        "train_churn",
        "promote_churn",
        "score_churn",
        "build_score_marts",
        *_gates(pipeline.GATES_AFTER_SCORING),
        "export_campaigns",
        "publish",
        "report",
    ]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert upstream in _upstream_of(dag, downstream), (upstream, downstream)
    for model in pipeline.MODELS:
        assert {f"train_{model}", f"promote_{model}", "transform"} <= _upstream_of(dag, f"score_{model}")
        assert f"score_{model}" in _upstream_of(dag, "build_score_marts")


def test_all_in_one_dag_is_manual_and_announces_no_assets(dags):
    dag = dags[DAG_ID]
    assert dag.schedule is None
    assert _outlet_uris(dag) == {}, "the demo DAG must not set the production chain off"
    assert {"as_of", "sample_size", "force_retrain"} <= set(dag.params)


def test_production_dags_chain_through_assets(dags):
    assert dags[INGEST_DAG_ID].schedule == "@daily"
    assert dags[TRAIN_DAG_ID].schedule == "@weekly"
    assert _outlet_uris(dags[INGEST_DAG_ID]) == {_gates(pipeline.GATES_BEFORE_TRANSFORM)[-1]: [RAW_ASSET_URI]}
    assert _schedule_uris(dags[TRANSFORM_DAG_ID]) == {RAW_ASSET_URI}
    marts_done = _gates(pipeline.GATES_AFTER_TRANSFORM)[-1:] or ["marts_ready"]
    assert _outlet_uris(dags[TRANSFORM_DAG_ID]) == {marts_done[0]: [WAREHOUSE_ASSET_URI]}
    assert _schedule_uris(dags[SCORE_DAG_ID]) == {WAREHOUSE_ASSET_URI}
    assert _outlet_uris(dags[SCORE_DAG_ID]) == {"publish": [SCORES_ASSET_URI]}
    assert _schedule_uris(dags[REPORT_DAG_ID]) == {SCORES_ASSET_URI}
    assert "force_retrain" in dags[TRAIN_DAG_ID].params


def test_the_chained_dags_together_hold_exactly_the_all_in_one_tasks(dags):
    chained = [task_id for dag_id in CHAINED_DAG_IDS for task_id in dags[dag_id].task_ids]
    announcers = [task_id for task_id in chained if task_id.endswith("_ready")]
    assert sorted(set(chained) - set(announcers)) == sorted(dags[DAG_ID].task_ids)
    assert len(chained) == len(set(chained))


@pytest.mark.parametrize("dag_id", ALL_DAG_IDS)
def test_every_warehouse_task_takes_the_single_writer_pool(dags, dag_id):
    for task in dags[dag_id].tasks:
        expected = "default_pool" if task.task_id in OUTSIDE_THE_POOL else WAREHOUSE_POOL
        assert task.pool == expected, (dag_id, task.task_id, task.pool)


@pytest.mark.parametrize("dag_id", ALL_DAG_IDS)
def test_every_task_retries_with_backoff_and_alerts_on_failure(dags, dag_id):
    for task in dags[dag_id].tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff > 1, task.task_id
        assert task.max_retry_delay is not None, task.task_id
        callbacks = (
            task.on_failure_callback if isinstance(task.on_failure_callback, list) else [task.on_failure_callback]
        )
        assert alert_on_failure in callbacks, task.task_id


def test_scoring_still_runs_when_a_fresh_champion_skips_training(dags):
    for model in pipeline.MODELS:
        assert dags[DAG_ID].get_task(f"score_{model}").trigger_rule == "none_failed"


def test_each_stage_of_the_chain_outranks_the_stages_before_it_in_the_pool(dags):
    """A backfill queues several days at once: a day's transform, scores and report must take the warehouse
    slot before the next day's raw gate, or the scheduler folds several days into one downstream run."""
    chain = (INGEST_DAG_ID, TRANSFORM_DAG_ID, SCORE_DAG_ID, REPORT_DAG_ID)

    def total(dag, task) -> int:  # Airflow's default "downstream" rule: the task's weight plus its descendants'
        assert task.weight_rule == "downstream", task.task_id
        return task.priority_weight + sum(dag.get_task(t).priority_weight for t in _downstream_of(dag, task.task_id))

    weights = {dag_id: [total(dags[dag_id], t) for t in dags[dag_id].tasks] for dag_id in chain}
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert min(weights[downstream]) > max(weights[upstream]), (upstream, downstream, weights)
