"""Where everything is after a run: warehouse tables, MLflow runs and models, quality gates, outputs."""

from __future__ import annotations

from rapport import warehouse
from rapport.ingest import missing_sources
from rapport.settings import get_settings

MAIN_TABLES = (
    "raw.customers",
    "raw.orders",
    "raw.reviews",
    "marts.customer_360",
    "ml.churn_scores",
    "ml.offer_recommendations",
    "ml.review_sentiment",
)


def collect_status() -> dict:
    """Row counts, quarantine counts, latest gate results, MLflow runs and champions."""
    settings = get_settings()
    status: dict = {"warehouse": str(settings.warehouse_path), "serving": str(settings.serving_path)}
    con = warehouse.connect()
    try:
        counts = warehouse.row_counts(con)
        status["tables"] = {t: counts.get(t) for t in MAIN_TABLES if t in counts}
        status["quarantine"] = {t: n for t, n in counts.items() if t.startswith("quarantine.") and n}
        status["raw_tables"] = sum(1 for t in counts if t.startswith("raw.") and not t.startswith("raw._"))
        status["missing_sources"] = missing_sources(con)
        if warehouse.table_exists(con, "ops", "gate_results"):
            rows = con.execute(
                "select suite, success, evaluated, failed from ops.gate_results "
                "qualify row_number() over (partition by suite order by checked_at desc) = 1 order by suite"
            ).fetchall()
            status["gates"] = {suite: {"success": ok, "evaluated": n, "failed": f} for suite, ok, n, f in rows}
    finally:
        con.close()
    status["mlflow"] = _mlflow_status()
    reports = sorted(settings.reports_dir.glob("*.html")) if settings.reports_dir.exists() else []
    status["report"] = str(reports[-1]) if reports else None
    return status


def _mlflow_status() -> dict:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from rapport.ml.registry import configure_mlflow

    configure_mlflow()
    client = MlflowClient()
    runs = {}
    for experiment in client.search_experiments():
        if not experiment.name.startswith("rapport/"):
            continue
        found = client.search_runs([experiment.experiment_id], max_results=1000)
        runs[experiment.name] = len(found)
    champions = {}
    for model in client.search_registered_models():
        try:
            version = client.get_model_version_by_alias(model.name, "champion")
            champions[model.name] = version.version
        except MlflowException:
            champions[model.name] = None
    return {"tracking_uri": get_settings().mlflow_tracking_uri, "runs": runs, "champions": champions}


def print_status() -> None:
    status = collect_status()
    settings = get_settings()
    print(f"\nWarehouse (DuckDB): {status['warehouse']}  ({status['raw_tables']} raw tables)")
    for table, rows in status["tables"].items():
        print(f"  {table:<28} {rows:>10,} rows")
    if status["quarantine"]:
        print("  quarantined rows: " + ", ".join(f"{t} {n:,}" for t, n in status["quarantine"].items()))
    for source, effect in status["missing_sources"].items():
        print(f"  source {source} has no data: {effect}")
    print(f"BI copy (read-only for BI tools): {status['serving']}")
    print("Quality gates (Great Expectations):")
    for suite, gate in status.get("gates", {}).items():
        verdict = "passed" if gate["success"] else "FAILED"
        print(f"  {suite:<28} {verdict} ({gate['evaluated']} expectations, {gate['failed']} failed)")
    print(f"  Data Docs: {settings.quality_dir}")
    mlflow = status["mlflow"]
    print(f"MLflow: {mlflow['tracking_uri']}")
    for experiment, n in mlflow["runs"].items():
        print(f"  {experiment:<28} {n} runs")
    for model, version in mlflow["champions"].items():
        print(f"  {model:<28} @champion = version {version}")
    print(f"  UI: .venv/bin/rapport mlflow-ui   (or: mlflow ui --backend-store-uri {mlflow['tracking_uri']})")
    if status["report"]:
        print(f"Report: {status['report']}")
