# One image for every Rapport service in docker-compose.yml: Airflow (api-server, scheduler, dag-processor,
# triggerer, Celery workers) and the MLflow tracking server. Same locked dependencies as `make install`,
# PyTorch's CPU build, the package installed from this checkout, and the dbt manifest the per-model
# Airflow tasks are rendered from, built here so that parsing a DAG never runs dbt.
FROM python:3.11-slim-bookworm

ARG TORCH_VERSION=2.13.0+cpu
ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/rapport/.venv \
    PATH=/opt/rapport/.venv/bin:$PATH \
    RAPPORT_PROJECT_ROOT=/opt/rapport \
    RAPPORT_HOME=/opt/rapport/var \
    RAPPORT_DBT_MANIFEST=/opt/rapport/dbt_manifest/manifest.json \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/rapport/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    GX_ANALYTICS_ENABLED=False \
    MLFLOW_ENABLE_TELEMETRY=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    SCARF_ANALYTICS=false \
    HF_HUB_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    TRANSFORMERS_OFFLINE=1

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /opt/rapport

# Dependencies first (cached while only the code changes), then PyTorch's CPU build.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3.11 \
 && uv pip install --no-config --python /opt/rapport/.venv/bin/python \
      --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple "torch==${TORCH_VERSION}"

COPY . .
RUN uv sync --frozen --no-dev --python /usr/local/bin/python3.11 \
 && RAPPORT_HOME=/tmp/rapport-build rapport dbt-manifest \
 && rm -rf /tmp/rapport-build \
 && mkdir -p "$RAPPORT_HOME" "$AIRFLOW_HOME" \
 && chown -R airflow:0 "$RAPPORT_HOME" "$AIRFLOW_HOME" /opt/rapport/dbt_manifest

USER airflow
EXPOSE 8080 5000
CMD ["airflow", "version"]
