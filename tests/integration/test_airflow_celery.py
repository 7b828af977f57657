"""Production-shaped Airflow: a real api-server, scheduler and dag-processor, with the machine's PostgreSQL
as metadata DB (a throw-away database), run rapport_ingest and then rapport_transform, which the raw Asset
it announces starts. Tasks run on a Celery worker with Redis as broker, as in docker-compose.yml.
Every process and the database are removed afterwards.

celery is pinned to 5.6.3: apache-airflow-providers-celery 3.26.0 imports ``retry`` from
``celery.backends.database``, which celery 5.7 removed, so no 5.7 worker can start.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
AS_OF = date(2026, 11, 1)
CUSTOMERS = 150
DEADLINE_SECONDS = 900
COMPONENTS = {
    "api-server": ["api-server", "--port", "{port}"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
}
CELERY_WORKER = {"worker": ["celery", "worker", "--concurrency", "2"]}
EXECUTORS = ["CeleryExecutor"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=EXECUTORS)
def metadata_db(request):
    name = f"rapport_airflow_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_URL} is required for this test: {exc}")
    admin.execute(f'create database "{name}"')
    yield {"url": f"postgresql://postgres@127.0.0.1:5432/{name}", "executor": request.param}
    admin.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


@pytest.fixture(scope="module")
def stack(metadata_db, tmp_path_factory):
    """Migrate the metadata DB, create the pool, start the four components; stop them all afterwards."""
    base = tmp_path_factory.mktemp("airflow_celery")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "rapport_transform.py", dags / "rapport_transform.py")
    # The daily DAG, on demand only: unpaused, it would also get a run for the latest interval beside ours.
    ingest = (ROOT / "dags" / "rapport_ingest.py").read_text()
    assert 'schedule="@daily"' in ingest
    (dags / "rapport_ingest.py").write_text(ingest.replace('schedule="@daily"', "schedule=None"))
    port = _free_port()
    # psycopg 3 serves both the sync and the async engine (Airflow would pick asyncpg, not installed).
    executor, metadata_url = metadata_db["executor"], metadata_db["url"]
    sqlalchemy_url = metadata_url.replace("postgresql://", "postgresql+psycopg://")
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "RAPPORT_HOME": str(base / "rapport"),
        "RAPPORT_TASK_RETRIES": "0",
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": sqlalchemy_url,
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{random.randint(8, 15)}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sqlalchemy_url}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }
    for key in ("AIRFLOW__LOGGING__BASE_LOG_FOLDER",):
        env.pop(key, None)
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "warehouse", "1", "DuckDB warehouse: one writer at a time")
    processes = {}
    try:
        components = {**COMPONENTS, **(CELERY_WORKER if executor == "CeleryExecutor" else {})}
        for name, args in components.items():
            log = open(base / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
            argv = [str(BIN / "airflow"), *[a.format(port=port) for a in args]]
            processes[name] = (
                subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                log,
            )
        yield {"env": env, "base": base, "db": metadata_url, "processes": processes, "executor": executor}
    finally:
        for process, _ in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, log in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()


def _airflow(env: dict, *args: str) -> str:
    done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def _runs(db: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(db) as pg:
        return pg.execute("select dag_id, run_type, state from dag_run order by id").fetchall()


def _wait_for(condition, stack, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        for name, (process, _) in stack["processes"].items():
            assert process.poll() is None, f"airflow {name} exited: {_tail(stack['base'] / f'{name}.log')}"
        if condition():
            return
        time.sleep(5)
    logs = "\n".join(f"--- {n}\n{_tail(stack['base'] / f'{n}.log')}" for n in stack["processes"])
    pytest.fail(f"timed out waiting for {what}; dag runs: {_runs(stack['db'])}\n{logs}")


def _tail(path: Path, chars: int = 2500) -> str:
    return path.read_text(errors="replace")[-chars:]


def _dag_is_parsed(db: str, dag_id: str) -> bool:
    with psycopg.connect(db) as pg:
        return pg.execute("select count(*) from serialized_dag where dag_id = %s", [dag_id]).fetchone()[0] > 0


def test_workers_run_ingest_then_the_asset_triggered_transform(stack):
    from rapport import pipeline

    env = stack["env"]
    os.environ["RAPPORT_HOME"], previous = env["RAPPORT_HOME"], os.environ["RAPPORT_HOME"]
    try:
        pipeline.generate(CUSTOMERS, date(2024, 11, 1), (AS_OF - date(2024, 11, 1)).days)
    finally:
        os.environ["RAPPORT_HOME"] = previous
    _wait_for(lambda: _dag_is_parsed(stack["db"], "rapport_transform"), stack, "the dag-processor to parse the DAGs")
    _airflow(env, "dags", "trigger", "rapport_ingest", "--conf", json.dumps({"as_of": AS_OF.isoformat()}))

    def chain_done() -> bool:
        runs = _runs(stack["db"])
        ingest_open = [r for r in runs if r[0] == "rapport_ingest" and r[2] not in ("success", "failed")]
        assert not [r for r in runs if r[2] == "failed"], runs
        return not ingest_open and any(r[0] == "rapport_transform" and r[2] == "success" for r in runs)

    _wait_for(chain_done, stack, "rapport_ingest, then rapport_transform, to succeed")
    runs = _runs(stack["db"])
    assert ("rapport_ingest", "manual", "success") in runs
    assert ("rapport_transform", "asset_triggered", "success") in runs
    with psycopg.connect(stack["db"]) as pg:
        hosts = pg.execute(
            "select distinct queue, hostname from task_instance where dag_id = 'rapport_transform'"
        ).fetchall()
    assert hosts and all(hostname for _, hostname in hosts), hosts
    import duckdb

    warehouse = Path(env["RAPPORT_HOME"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        features = con.execute(
            "select count(*) from marts.ml_customer_features where as_of_date = ?", [AS_OF]
        ).fetchone()[0]
    assert features > 0, "the transform run did not build the features as of the ingest run's as-of date"
