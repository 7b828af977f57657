"""docker-compose.yml and the Dockerfile, checked without Docker: the services a production Airflow needs,
healthchecks and start order, one image, and settings that agree with rapport.settings and .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rapport.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
LONG_RUNNING = (*AIRFLOW_SERVICES, "metadata-db", "mlflow-db", "serving-db", "redis", "mlflow")
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _env(compose: dict, service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (compose["services"][service].get("environment") or {}).items()}


def _resolve(value: str) -> str:
    """Compose interpolation with nothing set in the environment: defaults apply, required ones read as <NAME>."""
    return INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in ("-", ":-") else f"<{m.group(1)}>", value)


def _host(url: str) -> str:
    return re.search(r"//(?:[^@/]*@)?([^:/]+)", _resolve(url)).group(1)


def test_every_production_service_is_present(compose):
    assert set(LONG_RUNNING) | {"airflow-init"} <= set(compose["services"])


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthchecks(compose, service):
    check = compose["services"][service].get("healthcheck")
    assert check and check["test"] and check.get("interval"), service


def test_start_order_waits_for_health_not_just_start(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            expected = "service_completed_successfully" if dependency == "airflow-init" else "service_healthy"
            assert rule["condition"] == expected, (name, dependency)
            if expected == "service_healthy":
                assert services[dependency].get("healthcheck"), (
                    f"{name} waits on {dependency}, which has no healthcheck"
                )
    for name in AIRFLOW_SERVICES:
        assert {"airflow-init", "metadata-db", "redis"} <= set(services[name]["depends_on"]), name


def test_one_image_built_from_the_repo_dockerfile(compose):
    images = set()
    for name in (*AIRFLOW_SERVICES, "airflow-init", "mlflow"):
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "Dockerfile" and service["build"]["context"] == ".", name
        images.add(service["image"])
    assert len(images) == 1
    assert (ROOT / "Dockerfile").is_file()


def test_airflow_runs_celery_on_redis_with_postgres_metadata_and_an_mlflow_server(compose):
    for name in AIRFLOW_SERVICES:
        env = _env(compose, name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert _host(env["AIRFLOW__CELERY__BROKER_URL"]) == "redis"
        # the drivers the image installs: psycopg 3 for both engines (asyncpg, Airflow's async default, is not)
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert _host(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]) == "metadata-db"
        assert _host(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]) == "airflow-apiserver"
        assert int(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 30  # as the integration stack runs it
        assert _host(env["MLFLOW_TRACKING_URI"]) == "mlflow"
        assert _host(env["RAPPORT_SERVING_URL"]) == "serving-db"
        assert "/opt/rapport/var" in [v.split(":")[1] for v in compose["services"][name]["volumes"]], name
    command = " ".join(compose["services"]["mlflow"]["command"])
    assert "mlflow-db:5432" in command and "--artifacts-destination=/mlartifacts" in command
    assert any(v.endswith(":/mlartifacts") for v in compose["services"]["mlflow"]["volumes"])
    assert "pools set warehouse 1" in " ".join(compose["services"]["airflow-init"]["command"])


def test_named_volumes_are_declared(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, (name, source)


def test_secrets_are_required_from_the_environment_never_defaulted(compose):
    env = _env(compose, "airflow-worker")
    for name in ("RAPPORT_PII_SALT", "RAPPORT_BI_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", env[name]), f"{name} must be required (${{VAR:?...}})"


def test_rapport_settings_in_compose_are_the_ones_the_code_reads(compose):
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    used = {key for name in compose["services"] for key in _env(compose, name) if key.startswith("RAPPORT_")}
    assert used, "the services set no RAPPORT_* setting"
    assert used - listed == set(), "compose sets RAPPORT_* variables that .env.example (and the code) do not know"


def test_dockerfile_matches_the_locked_environment_and_the_compose_paths(compose, dockerfile):
    makefile = (ROOT / "Makefile").read_text()
    torch = re.search(r"^TORCH_VERSION := (\S+)", makefile, re.M).group(1)
    assert f"ARG TORCH_VERSION={torch}" in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "uv sync --frozen" in dockerfile and "COPY pyproject.toml uv.lock" in dockerfile
    env = _env(compose, "airflow-scheduler")
    for key in ("RAPPORT_DBT_MANIFEST", "AIRFLOW__CORE__DAGS_FOLDER", "RAPPORT_PROJECT_ROOT"):
        assert f"{key}={env[key]}" in dockerfile, key
    assert "WORKDIR /opt/rapport" in dockerfile and env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/rapport/dags"


def test_the_image_builds_the_dbt_manifest_with_a_real_cli_command(dockerfile):
    assert "rapport dbt-manifest" in dockerfile
    assert build_parser().parse_args(["dbt-manifest"]).command == "dbt-manifest"


def test_dockerignore_keeps_local_state_out_and_the_code_in():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "var", ".git"} <= ignored
    assert not ignored & {"dags", "src", "dbt_project", "ml", "expectations", "data", "pyproject.toml", "uv.lock"}
