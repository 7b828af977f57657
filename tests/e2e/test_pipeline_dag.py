"""The whole pipeline, run as the Airflow DAG with dag.test() on a tiny simulated data set."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCORE_TABLES = ("ml.churn_scores", "ml.offer_recommendations", "ml.review_sentiment")


def test_every_task_succeeds(pipeline_run):
    tasks = pipeline_run["dag"]["tasks"]
    assert pipeline_run["dag"]["state"] == "success"
    assert {"ingest", "transform", "train_churn", "promote_churn", "score_sentiment", "publish", "report"} <= set(tasks)
    assert all(state == "success" for state in tasks.values()), tasks


def test_customer_360_has_one_row_per_customer_signed_up_before_as_of(pipeline_run, warehouse_con):
    as_of = pipeline_run["as_of"]
    expected = warehouse_con.execute("select count(*) from raw.customers where signup_at < ?", [as_of]).fetchone()[0]
    rows, distinct = warehouse_con.execute(
        "select count(*), count(distinct customer_id) from marts.customer_360"
    ).fetchone()
    assert rows == distinct == expected
    segments = {r[0] for r in warehouse_con.execute("select distinct rfm_segment from marts.customer_360").fetchall()}
    assert len(segments) >= 3


def test_score_tables_are_stamped_with_model_version_and_run(pipeline_run, warehouse_con):
    for table in SCORE_TABLES:
        rows, versions, runs = warehouse_con.execute(
            f"select count(*), count(distinct model_version), count(distinct scoring_run_id) from {table} "
            "where model_version is not null"
        ).fetchone()
        assert rows > 0, table
        assert versions == 1 and runs == 1, (table, versions, runs)
    low, high = warehouse_con.execute(
        "select min(churn_probability), max(churn_probability) from ml.churn_scores"
    ).fetchone()
    assert 0 <= low <= high <= 1


def test_scores_respect_consent(pipeline_run, warehouse_con):
    unconsented = warehouse_con.execute(
        "select count(*) from ml.churn_scores s join marts.customer_360 c using (customer_id) "
        "where not c.has_profiling_consent"
    ).fetchone()[0]
    assert unconsented == 0
    unconsented_reviews = warehouse_con.execute(
        "select count(*) from ml.review_sentiment s join marts.customer_360 c using (customer_id) "
        "where not c.has_profiling_consent"
    ).fetchone()[0]
    assert unconsented_reviews == 0
    offers_without_consent = warehouse_con.execute(
        "select count(*) from ml.offer_recommendations r join marts.customer_360 c using (customer_id) "
        "where (r.channel = 'email' and not c.has_email_consent) or (r.channel = 'sms' and not c.has_sms_consent) "
        "or (r.channel = 'push' and not c.has_push_consent)"
    ).fetchone()[0]
    assert offers_without_consent == 0


def test_rescoring_the_same_day_replaces_the_partition(pipeline_run, warehouse_con):
    from rapport import pipeline

    before = warehouse_con.execute("select count(*) from ml.churn_scores").fetchone()[0]
    warehouse_con.close()
    pipeline.score("churn", pipeline_run["as_of"], "run-rescore-test")
    from rapport import warehouse

    con = warehouse.connect()
    try:
        after, runs = con.execute("select count(*), count(distinct scoring_run_id) from ml.churn_scores").fetchone()
    finally:
        con.close()
    assert after == before
    assert runs == 1


def test_mlflow_holds_runs_models_and_champions(pipeline_run):
    from mlflow.tracking import MlflowClient

    from rapport.ml.registry import configure_mlflow

    configure_mlflow()
    client = MlflowClient()
    for model in ("churn", "clv", "nbo", "sentiment"):
        experiment = client.get_experiment_by_name(f"rapport/{model}")
        assert experiment is not None, model
        runs = client.search_runs([experiment.experiment_id])
        assert any(r.data.tags.get("baseline") for r in runs), f"no baseline run for {model}"
        champion = client.get_model_version_by_alias(f"rapport-{model}", "champion")
        assert champion.version


def test_every_logged_model_is_stored_under_rapport_home(pipeline_run):
    """Models go to the experiments' artifact roots, never MLflow's Default experiment (./mlruns in the cwd)."""
    import mlflow

    from rapport.ml.registry import configure_mlflow
    from rapport.settings import get_settings

    configure_mlflow()
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    models = mlflow.search_logged_models(experiment_ids=experiments, output_format="list")
    assert models
    root = get_settings().mlartifacts_dir.resolve().as_uri()
    assert [m.artifact_location for m in models if not m.artifact_location.startswith(root)] == []


def test_churn_model_beats_the_recency_baseline(pipeline_run):
    from mlflow.tracking import MlflowClient

    from rapport.ml.registry import configure_mlflow

    configure_mlflow()
    client = MlflowClient()
    experiment = client.get_experiment_by_name("rapport/churn")
    runs = client.search_runs([experiment.experiment_id])
    model_runs = [r for r in runs if not r.data.tags.get("baseline") and "val_roc_auc" in r.data.metrics]
    baseline_runs = [r for r in runs if r.data.tags.get("baseline") == "recency"]
    assert model_runs and baseline_runs
    model_auc = model_runs[0].data.metrics["val_roc_auc"]
    baseline_auc = baseline_runs[0].data.metrics["val_roc_auc"]
    assert model_auc > baseline_auc, (model_auc, baseline_auc)


def test_published_copy_is_readable_while_the_warehouse_is_open_for_writing(pipeline_run, warehouse_con):
    from rapport.publish import BI_TABLES, open_published

    bi = open_published()
    try:
        for table in BI_TABLES:
            published = bi.execute(f"select count(*) from {table}").fetchone()[0]
            source = warehouse_con.execute(f"select count(*) from {table}").fetchone()[0]
            assert published == source, table
        with pytest.raises(Exception, match="read-only"):
            bi.execute("create table marts.sneaky as select 1")
    finally:
        bi.close()


def test_report_is_written_with_every_section(pipeline_run):
    from rapport.settings import get_settings

    report = get_settings().reports_dir / f"relationship_{pipeline_run['as_of'].isoformat()}.html"
    text = report.read_text(encoding="utf-8")
    from rapport.report import SECTION_TITLES

    for heading in SECTION_TITLES:
        assert f"<h2>{heading}</h2>" in text, heading
    assert not re.search(r"<script[^>]+src=", text)  # self-contained: plotly.js is inlined, nothing fetched
    assert text.count("Plotly.newPlot") >= 4


def test_cli_status_reports_the_run(pipeline_run, capsys):
    from rapport.cli import main

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "marts.customer_360" in out
    assert "rapport-churn" in out and "@champion" in out


def test_only_active_customers_get_a_churn_score(pipeline_run, warehouse_con):
    lapsed_scored = warehouse_con.execute(
        "select count(*) from ml.churn_scores s join marts.ml_customer_features f "
        "on f.customer_id = s.customer_id and f.as_of_date = s.as_of_date where not f.is_active_365d"
    ).fetchone()[0]
    assert lapsed_scored == 0


def test_every_gate_result_is_recorded_once_for_the_run(pipeline_run, warehouse_con):
    from rapport.pipeline import GATES_AFTER_SCORING, GATES_AFTER_TRANSFORM, GATES_BEFORE_TRANSFORM

    rows = warehouse_con.execute(
        "select suite, count(*), bool_and(success), min(as_of_date) from ops.gate_results where run_id = ? group by 1",
        [pipeline_run["dag"]["run_id"]],
    ).fetchall()
    gates = {*GATES_BEFORE_TRANSFORM, *GATES_AFTER_TRANSFORM, *GATES_AFTER_SCORING}
    assert {suite for suite, *_ in rows} == gates
    assert all(n == 1 and ok and as_of == pipeline_run["as_of"] for _, n, ok, as_of in rows)
