"""The TaskFlow tasks of every Rapport DAG, one factory per stage of the flow.

The chained production DAGs (``rapport_ingest`` → ``rapport_transform`` → ``rapport_score`` →
``rapport_report``, and ``rapport_train``) and the all-in-one ``rapport_pipeline`` of the demo build
their tasks from these factories, so each stage's task code exists once. A factory is called inside a
``@dag`` body, runs after ``upstream`` (a task, a list of tasks, a task group or None) and returns
its last task(s). Task bodies call one function of ``rapport.pipeline``, which imports its heavy
libraries inside; parsing a DAG imports Airflow's SDK, the settings and this module (plus cosmos
when dbt runs per model).

Every task that opens the DuckDB warehouse takes the single slot of the ``warehouse`` pool, since
DuckDB allows one writer. A task that closes a stage can announce an Asset, with the as-of date in
the event's ``extra``, so the asset-triggered DAG downstream (which has no logical date) works on
the same day.

Down the chain, tasks outrank those upstream in the pool (:func:`chained_dag_defaults`): when a
backfill queues several days at once, each day's transform (then scores, then report) takes the slot
before the next day's raw gate announces new data. Otherwise the scheduler folds the raw events of
several days into one transform run, which builds the newest day only, and the days in between never
get their marts, gates and scores: the backfill would not equal running each day live.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, get_current_context, task

from rapport import pipeline
from rapport.orchestration import (
    CHAMPIONS_ASSET_URI,
    RAW_ASSET_URI,
    REPORT_DAG_ID,
    SCORE_DAG_ID,
    SCORES_ASSET_URI,
    TELEMETRY_OFF,
    TRANSFORM_DAG_ID,
    WAREHOUSE_ASSET_URI,
    WAREHOUSE_POOL,
    as_of_from_context,
    task_defaults,
)
from rapport.settings import get_settings

RAW = Asset(RAW_ASSET_URI)
MARTS = Asset(WAREHOUSE_ASSET_URI)
SCORES = Asset(SCORES_ASSET_URI)
CHAMPIONS = Asset(CHAMPIONS_ASSET_URI)

DBT_GROUP_ID = "dbt"
DBT_VARS_TASK_ID = "dbt_vars"
# The dbt source whose tables the models write back; dbt_project/selectors.yml `core` is everything not below it.
DBT_SCORES_SOURCE = "ml"
# Pool priority of each asset-triggered DAG's tasks (Airflow adds up the weights downstream of a task): a
# stage always outranks every task of the stages before it (rapport_ingest and rapport_train keep 1).
CHAIN_PRIORITY = {TRANSFORM_DAG_ID: 100, SCORE_DAG_ID: 10_000, REPORT_DAG_ID: 1_000_000}


def chained_dag_defaults(dag_id: str) -> dict[str, Any]:
    """``default_args`` of a production DAG: retries, backoff and the failure alert, and its place in the chain."""
    return {**task_defaults(), "priority_weight": CHAIN_PRIORITY.get(dag_id, 1)}


def run_params(*, sample_size: bool = False, force_retrain: bool = False) -> dict[str, Param]:
    """Params a manual run may set; a scheduled run leaves them at their defaults."""
    params = {
        "as_of": Param(None, type=["null", "string"], description="As-of date YYYY-MM-DD (default: logical date)"),
    }
    if sample_size:
        params["sample_size"] = Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Simulate this many customers over two years into the landing folder first (trials only)",
        )
    if force_retrain:
        params["force_retrain"] = Param(False, type="boolean", description="Retrain even a fresh @champion")
    return params


def current_as_of() -> date:
    """The as-of date of the running task: param, triggering asset event, or logical date."""
    context = get_current_context()
    return as_of_from_context(context["params"], context.get("logical_date"), context.get("triggering_asset_events"))


def current_run_id() -> str:
    return get_current_context()["run_id"]


def announce(outlet: Asset | None, as_of: date) -> None:
    """Attach the as-of date (and the producing run) to this task's event on ``outlet``."""
    if outlet is not None:
        get_current_context()["outlet_events"][outlet].extra = {"as_of": as_of.isoformat(), "run_id": current_run_id()}


def _outlets(outlet: Asset | None) -> list[Asset]:
    return [outlet] if outlet is not None else []


def _after(upstream: Any, downstream: Any) -> Any:
    if upstream is not None:
        upstream >> downstream
    return downstream


def gate_tasks(gates: Sequence[str], upstream: Any, outlet: Asset | None = None) -> Any:
    """One ``validate_<gate>`` task per Great Expectations gate, in a chain; the last one announces ``outlet``
    (with no gate at this point of the flow, a ``<asset>_ready`` task does)."""
    if not gates:
        return ready_task(upstream, outlet) if outlet is not None else upstream

    @task(pool=WAREHOUSE_POOL)
    def validate(gate: str, closes_stage: bool) -> dict:
        as_of = current_as_of()
        result = pipeline.validate(gate, current_run_id(), as_of)
        if closes_stage:
            announce(outlet, as_of)
        return result

    last = upstream
    for position, gate in enumerate(gates):
        closes_stage = position == len(gates) - 1
        gate_task = validate.override(task_id=f"validate_{gate}", outlets=_outlets(outlet) if closes_stage else [])
        last = _after(last, gate_task(gate, closes_stage))
    return last


def ready_task(upstream: Any, outlet: Asset) -> Any:
    """A task that only announces ``outlet`` once ``upstream`` succeeded."""

    @task(task_id=f"{outlet.uri.rstrip('/').rsplit('/', 1)[-1]}_ready", outlets=[outlet])
    def ready() -> str:
        as_of = current_as_of()
        announce(outlet, as_of)
        return as_of.isoformat()

    return _after(upstream, ready())


def ingest_stage(outlet: Asset | None = None) -> Any:
    """Optionally simulate a sample (param ``sample_size``), load new landing files into raw.*, honour
    deletion requests and retention, then gate raw."""

    @task(pool=WAREHOUSE_POOL)
    def ingest() -> dict:
        sample_size = get_current_context()["params"].get("sample_size")
        generated = None
        if sample_size:
            as_of = current_as_of()
            start = as_of.replace(year=as_of.year - 2, day=min(as_of.day, 28))
            generated = pipeline.generate(int(sample_size), start, (as_of - start).days)
        return {**pipeline.ingest(), "generated": generated}

    @task(pool=WAREHOUSE_POOL)
    def apply_deletion_requests() -> dict:
        return pipeline.apply_deletion_requests()

    @task(pool=WAREHOUSE_POOL)
    def apply_retention() -> dict:
        return pipeline.apply_retention(current_as_of())

    cleaned = _after(_after(ingest(), apply_deletion_requests()), apply_retention())
    return gate_tasks(pipeline.GATES_BEFORE_TRANSFORM, cleaned, outlet)


def transform_stage(upstream: Any, outlet: Asset | None = None, per_model: bool | None = None) -> Any:
    """dbt core as of the run's date, then the mart gates: one `dbt build` task, or a run and a test task per
    model when ``per_model`` (default: ``RAPPORT_DBT_TASKS=models``)."""
    per_model = get_settings().dbt_tasks == "models" if per_model is None else per_model
    built = dbt_model_tasks(upstream) if per_model else dbt_build_task(upstream)
    return gate_tasks(pipeline.GATES_AFTER_TRANSFORM, built, outlet)


def dbt_build_task(upstream: Any) -> Any:
    @task(pool=WAREHOUSE_POOL)
    def transform() -> dict:
        return pipeline.transform(current_as_of())

    return _after(upstream, transform())


def dbt_model_tasks(upstream: Any) -> Any:
    """The dbt project as a cosmos task group (a run and a test task per model), fed the run's dbt vars.

    The DAG must set ``render_template_as_native_obj=True`` so the vars reach dbt as a mapping.
    """

    @task(task_id=DBT_VARS_TASK_ID, pool=WAREHOUSE_POOL)
    def dbt_vars() -> dict:
        from rapport.transform import dbt_vars as build_vars

        as_of = current_as_of()
        return build_vars(as_of, pipeline.feature_dates(as_of))

    variables = _after(upstream, dbt_vars())
    group = dbt_task_group(
        DBT_GROUP_ID,
        f"{{{{ ti.xcom_pull(task_ids='{DBT_VARS_TASK_ID}') }}}}",
        exclude=downstream_of_source(get_settings().dbt_manifest_path, DBT_SCORES_SOURCE),
    )
    variables >> group
    return group


def downstream_of_source(manifest: Path, source_name: str) -> list[str]:
    """Cosmos selectors for every node below the tables of dbt source ``source_name`` (the `core` selector's
    exclusion: cosmos names a source node ``<source>.<table>``)."""
    import json

    sources = json.loads(manifest.read_text(encoding="utf-8"))["sources"].values() if manifest.is_file() else []
    return sorted(f"source:{s['source_name']}.{s['name']}+" for s in sources if s["source_name"] == source_name)


def dbt_task_group(group_id: str, dbt_vars: str | dict, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> Any:
    """A cosmos ``DbtTaskGroup`` rendered from the prebuilt manifest: parsing the DAG never runs dbt.

    Each model becomes a run task and a test task (in the warehouse pool); dbt runs in a subprocess so
    dbt-duckdb's process-wide database handle never outlives the task.
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    settings = get_settings()
    manifest = settings.dbt_manifest_path
    if not manifest.is_file():
        raise FileNotFoundError(
            f"RAPPORT_DBT_TASKS=models renders dbt from its manifest, but {manifest} does not exist: "
            "run `rapport dbt-manifest` (dbt parse) first, or set RAPPORT_DBT_TASKS=build"
        )
    project_dir = settings.dbt_project_dir
    env = {
        "RAPPORT_WAREHOUSE": str(settings.warehouse_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        **{k: v for k, v in TELEMETRY_OFF.items() if k.startswith(("DO_NOT", "DBT"))},
    }
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=project_dir, manifest_path=manifest, install_dbt_deps=False, env_vars=env
        ),
        profile_config=ProfileConfig(
            profile_name="rapport", target_name="local", profiles_yml_filepath=project_dir / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(Path(sys.executable).with_name("dbt")),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            select=list(select),
            exclude=list(exclude),
        ),
        operator_args={"pool": WAREHOUSE_POOL, "vars": dbt_vars, "install_deps": False},
    )


def train_stage(upstream: Any = None, outlet: Asset | None = None) -> dict[str, Any]:
    """Per model: train (skipped while the champion is fresh, unless forced), then the promotion gate."""

    @task(pool=WAREHOUSE_POOL)
    def train(model: str) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        force = bool(get_current_context()["params"].get("force_retrain"))
        due = pipeline.training_due(model, force)
        if not due["due"]:
            raise AirflowSkipException(due["reason"])
        return {**pipeline.train(model, current_as_of()), "training_reason": due["reason"]}

    @task(outlets=_outlets(outlet))
    def promote(model: str, trained: dict) -> dict:
        decision = pipeline.promote(model, trained["model_version"])
        announce(outlet, current_as_of())
        return decision

    promoted = {}
    for model in pipeline.MODELS:
        trained = _after(upstream, train.override(task_id=f"train_{model}")(model))
        promoted[model] = promote.override(task_id=f"promote_{model}")(model, trained)
    return promoted


def score_stage(upstream: Any, outlet: Asset | None = None) -> Any:
    """Score every model with its @champion and write back ml.*, build the score marts, gate the score
    tables and marts, export the campaign lists, publish the BI copy.

    ``upstream`` is what scoring waits for, or per model a dict of it (its promotion, which a fresh
    champion skips: scoring then runs with the champion it has, hence ``none_failed``).
    """

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed")
    def score(model: str) -> dict:
        return pipeline.score(model, current_as_of(), current_run_id())

    scored = []
    for model in pipeline.MODELS:
        before = upstream.get(model) if isinstance(upstream, dict) else upstream
        scored.append(_after(before, score.override(task_id=f"score_{model}")(model)))

    @task(pool=WAREHOUSE_POOL)
    def build_score_marts() -> dict:
        return pipeline.build_score_marts(current_as_of())

    gated = gate_tasks(pipeline.GATES_AFTER_SCORING, _after(scored, build_score_marts()))

    @task(pool=WAREHOUSE_POOL)
    def export_campaigns() -> dict:
        return pipeline.export_campaigns(current_as_of())

    @task(pool=WAREHOUSE_POOL, outlets=_outlets(outlet))
    def publish() -> dict:
        result = pipeline.publish()
        announce(outlet, current_as_of())
        return result

    return _after(_after(gated, export_campaigns()), publish())


def report_stage(upstream: Any = None) -> Any:
    """The HTML relationship report of the run's as-of date."""

    @task(pool=WAREHOUSE_POOL)
    def report() -> dict:
        return pipeline.report(current_as_of(), current_run_id())

    return _after(upstream, report())
