"""A production-shaped Airflow for the integration tests: api-server, scheduler, dag-processor and a Celery
worker (Redis broker) on a throw-away PostgreSQL metadata database, all removed afterwards.

``RAPPORT_HOME`` of every Airflow process is a symlink the test can point at another folder between DAG
runs (:meth:`AirflowStack.use_home`), so one stack serves several warehouses side by side.

celery is pinned to 5.6.3: apache-airflow-providers-celery 3.26.0 imports ``retry`` from
``celery.backends.database``, which celery 5.7 removed, so no 5.7 worker can start.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from rapport.orchestration import (
    INGEST_DAG_ID,
    TRANSFORM_DAG_ID,
    WAREHOUSE_POOL,
    WAREHOUSE_POOL_DESCRIPTION,
    WAREHOUSE_POOL_SLOTS,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
DEADLINE_SECONDS = 900
COMPONENTS = {
    "api-server": ["api-server", "--port", "{port}"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "worker": ["celery", "worker", "--concurrency", "2"],
}
FINISHED = ("success", "failed")
INGEST_DAG_FILE = f"{INGEST_DAG_ID}.py"
TRANSFORM_DAG_FILE = f"{TRANSFORM_DAG_ID}.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def metadata_database() -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata, dropped afterwards; yields its URL."""
    name = f"rapport_airflow_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_URL} is required for this test: {exc}")
    admin.execute(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def dag_file(name: str, replacements: dict[str, str] | None = None) -> str:
    """The text of ``dags/<name>``, with each replacement applied (each must match, so a DAG change that
    invalidates one fails loudly instead of silently testing something else)."""
    text = (ROOT / "dags" / name).read_text()
    for old, new in (replacements or {}).items():
        assert old in text, f"dags/{name} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class AirflowStack:
    """The running components, their environment, and helpers to drive and watch them."""

    def __init__(self, base: Path, db: str, env: dict[str, str]) -> None:
        self.base, self.db, self.env = base, db, env
        self.processes: dict[str, tuple[subprocess.Popen, object]] = {}

    @property
    def home(self) -> Path:
        return Path(self.env["RAPPORT_HOME"])

    def use_home(self, target: Path) -> None:
        """Point RAPPORT_HOME (a symlink) at ``target``; only between runs, never while a task runs."""
        staged = self.home.with_name(f".{self.home.name}.{uuid.uuid4().hex[:6]}")
        staged.symlink_to(target, target_is_directory=True)
        staged.replace(self.home)

    def airflow(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.db) as pg:
            return pg.execute(sql, params or []).fetchall()

    def runs(self) -> list[tuple]:
        """(dag_id, run_type, state, logical date, run id) of every DAG run, oldest first."""
        return self.query("select dag_id, run_type, state, logical_date, run_id from dag_run order by id")

    def dag_is_parsed(self, dag_id: str) -> bool:
        return self.query("select count(*) from serialized_dag where dag_id = %s", [dag_id])[0][0] > 0

    def settled(self) -> bool:
        """Every DAG run finished and no asset event waits for the DAG it triggers; fails on a failed run."""
        runs = self.runs()
        failed = [r for r in runs if r[2] == "failed"]
        assert not failed, f"failed DAG runs: {failed}\n{self.task_failures()}"
        pending = self.query("select count(*) from asset_dag_run_queue")[0][0]
        return bool(runs) and pending == 0 and all(r[2] in FINISHED for r in runs)

    def task_failures(self) -> str:
        rows = self.query("select dag_id, run_id, task_id, state from task_instance where state = 'failed'")
        return "\n".join(f"{row}: {self.task_log_tail(*row[:3])}" for row in rows)

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str) -> str:
        logs = sorted((self.base / "airflow" / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*"))
        return tail(logs[-1]) if logs else "(no log)"

    def wait_for(self, condition: Callable[[], bool], what: str, deadline: float = DEADLINE_SECONDS) -> float:
        """Poll ``condition`` until true (returns the seconds waited); fail on timeout or a dead component."""
        started = time.monotonic()
        while time.monotonic() - started < deadline:
            for name, (process, _) in self.processes.items():
                assert process.poll() is None, f"airflow {name} exited: {tail(self.base / f'{name}.log')}"
            if condition():
                return time.monotonic() - started
            time.sleep(3)
        logs = "\n".join(f"--- {n}\n{tail(self.base / f'{n}.log')}" for n in self.processes)
        pytest.fail(f"timed out waiting for {what}; dag runs: {self.runs()}\n{logs}")

    def start(self) -> None:
        port = self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].split(":")[-1].split("/")[0]
        for name, args in COMPONENTS.items():
            log = open(self.base / f"{name}.log", "w")  # noqa: SIM115 - closed with the process in stop()
            argv = [str(BIN / "airflow"), *[a.format(port=port) for a in args]]
            process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.processes[name] = (process, log)

    def stop(self) -> None:
        for process, _ in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, log in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            log.close()
        self.processes.clear()


@contextlib.contextmanager
def airflow_stack(base: Path, dag_files: dict[str, str]) -> Iterator[AirflowStack]:
    """Write ``dag_files`` (name -> text) as the DAG folder, migrate a fresh metadata DB, create the warehouse
    pool, start every component; stop them all and drop the database afterwards."""
    dags = base / "dags"
    dags.mkdir()
    for name, text in dag_files.items():
        (dags / name).write_text(text)
    homes = base / "homes"
    homes.mkdir()
    (base / "rapport").symlink_to(homes, target_is_directory=True)
    port = free_port()
    with metadata_database() as metadata_url:
        # psycopg 3 serves both the sync and the async engine (Airflow would pick asyncpg, not installed).
        sqlalchemy_url = metadata_url.replace("postgresql://", "postgresql+psycopg://")
        env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "RAPPORT_HOME": str(base / "rapport"),
            "RAPPORT_TASK_RETRIES": "0",
            "AIRFLOW_HOME": str(base / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            # On 2 busy cores the api-server can take longer than the default 5 s to answer a task's
            # supervisor; five such timeouts in a row fail the task before it starts.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": sqlalchemy_url,
            "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{random.randint(8, 15)}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sqlalchemy_url}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }
        env.pop("AIRFLOW__LOGGING__BASE_LOG_FOLDER", None)
        stack = AirflowStack(base, metadata_url, env)
        stack.airflow("db", "migrate")
        stack.airflow("pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), WAREHOUSE_POOL_DESCRIPTION)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


def tail(path: Path, chars: int = 2500) -> str:
    return path.read_text(errors="replace")[-chars:]


# --------------------------------------------------------------------------------------------------
# the live-versus-backfill scenarios (tests/integration/conftest.py runs them once per session)

DATES = (date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1))
HISTORY_START = date(2024, 11, 1)
CUSTOMERS = 150


def _midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def _generate(home: Path) -> None:
    from rapport import pipeline

    previous = os.environ["RAPPORT_HOME"]
    os.environ["RAPPORT_HOME"] = str(home)
    try:
        pipeline.generate(CUSTOMERS, HISTORY_START, (DATES[-1] - HISTORY_START).days)
    finally:
        os.environ["RAPPORT_HOME"] = previous


def run_live_and_backfill(base: Path) -> dict:
    """Run rapport_ingest (and the rapport_transform its raw Asset starts) for DATES three ways, each in a
    RAPPORT_HOME of its own holding the same landing files, and keep a copy of each warehouse:

    * ``live``: one scheduler run per day (``airflow dags trigger --logical-date``), each waited for with
      its asset-triggered transform before the next day is triggered;
    * ``backfill``: ``airflow backfill create`` over the three days in a fresh warehouse; the days already
      ran live in this metadata DB, so the backfill reprocesses them (``--reprocess-behavior completed``);
    * ``rerun``: the backfilled warehouse after the last day ran once more (``airflow tasks clear``).

    The stack is gone when this returns: the result holds the warehouse copies, the DAG runs after each
    phase, the hosts that ran the transform tasks and the seconds each phase took.
    """
    last = DATES[-1]
    files = {
        # Scheduled daily, as in production, so it can be backfilled; the end date (the last day of the
        # test) keeps the scheduler from adding a run of its own for the latest interval.
        INGEST_DAG_FILE: dag_file(
            INGEST_DAG_FILE,
            {
                "catchup=False,": f"catchup=False,\n    end_date=datetime({last.year}, {last.month}, {last.day}, tzinfo=UTC),"
            },
        ),
        TRANSFORM_DAG_FILE: dag_file(TRANSFORM_DAG_FILE),
    }
    result: dict = {"seconds": {}, "runs": {}, "snapshots": {}}
    with airflow_stack(base, files) as stack:
        homes = {name: base / "homes" / name for name in ("live", "backfill")}
        started = time.monotonic()
        _generate(homes["live"])
        shutil.copytree(homes["live"] / "landing", homes["backfill"] / "landing")
        result["seconds"]["generate"] = time.monotonic() - started
        stack.wait_for(lambda: stack.dag_is_parsed(TRANSFORM_DAG_ID), "the dag-processor to parse the DAGs")

        def phase(name: str, *commands: tuple[str, ...]) -> None:
            started = time.monotonic()
            for command in commands:
                stack.airflow(*command)
                stack.wait_for(stack.settled, f"{name}: {' '.join(command)} and the transforms it starts")
            result["seconds"][name] = time.monotonic() - started
            result["runs"][name] = stack.runs()
            snapshot = base / f"{name}.duckdb"
            shutil.copyfile(stack.home / "warehouse.duckdb", snapshot)
            result["snapshots"][name] = snapshot

        stack.use_home(homes["live"])
        phase("live", *[("dags", "trigger", INGEST_DAG_ID, "--logical-date", _midnight(day)) for day in DATES])
        stack.use_home(homes["backfill"])
        phase(
            "backfill",
            (
                "backfill",
                "create",
                "--dag-id",
                INGEST_DAG_ID,
                "--from-date",
                _midnight(DATES[0]),
                "--to-date",
                _midnight(last),
                "--reprocess-behavior",
                "completed",
            ),
        )
        phase("rerun", ("tasks", "clear", INGEST_DAG_ID, "-s", _midnight(last), "-e", _midnight(last), "--yes"))
        result["transform_hosts"] = [
            row[0]
            for row in stack.query("select distinct hostname from task_instance where dag_id = %s", [TRANSFORM_DAG_ID])
        ]
    return result
