"""Run Rapport's DAGs in-process with Airflow's ``dag.test()``: real task execution, no scheduler."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from rapport.orchestration import (
    DAG_ID,
    WAREHOUSE_POOL,
    WAREHOUSE_POOL_DESCRIPTION,
    WAREHOUSE_POOL_SLOTS,
    airflow_env,
    apply_environment,
)
from rapport.settings import get_settings

log = logging.getLogger("rapport.airflow")


class DagRunFailed(RuntimeError):
    """The DAG run ended in a state other than success."""


def prepare_airflow() -> dict[str, str]:
    """Point this process at var/airflow and create or migrate the metadata DB there."""
    env = airflow_env()
    apply_environment(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    log.info("migrating the Airflow metadata DB (%s)", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("://")[0])
    done = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`airflow db migrate` failed:\n{done.stderr[-3000:]}")
    ensure_pools()
    return env


def ensure_pools() -> None:
    """Create (or resize) the ``warehouse`` pool every task writing DuckDB runs in; idempotent."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS, WAREHOUSE_POOL_DESCRIPTION, include_deferred=False)


def load_dag(dag_file: Path | None = None, dag_id: str = DAG_ID):
    """Import a DAG file the way the DAG processor does, and return its DAG object."""
    dag_file = dag_file or get_settings().dags_dir / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"rapport_dag_{dag_id}", dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"{dag_file} defines no DAG with dag_id {dag_id!r}")


def run_dag(as_of: date, dag_id: str = DAG_ID, conf: dict | None = None) -> dict:
    """Run the DAG for ``as_of`` with ``dag.test()`` and return its run id, state and task states.

    ``conf`` sets more params of the run (``force_retrain``, ``sample_size``).
    """
    prepare_airflow()
    dag = load_dag(dag_id=dag_id)
    logical_date = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    dag_run = dag.test(logical_date=logical_date, run_conf={**(conf or {}), "as_of": as_of.isoformat()})
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    result = {"dag_id": dag_id, "run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": states}
    if str(dag_run.state) != "success":
        failed = sorted(t for t, s in states.items() if s not in ("success", "skipped"))
        raise DagRunFailed(f"DAG {dag_id} run {dag_run.run_id} ended {dag_run.state}; not successful: {failed}")
    return result


def build_dbt_manifest() -> dict:
    """``dbt parse`` into the manifest the per-model dbt task group is rendered from (build/deploy time)."""
    from rapport.transform import run_dbt

    settings = get_settings()
    result = run_dbt(["parse"], datetime.now(UTC).date())
    built = settings.home / "dbt" / "target" / "manifest.json"
    manifest = settings.dbt_manifest_path
    if built != manifest:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        staged = manifest.with_suffix(".json.tmp")
        staged.write_bytes(built.read_bytes())
        staged.replace(manifest)  # a DAG being parsed never reads a half-written manifest
    return {"manifest": str(manifest), "seconds": result.seconds}
