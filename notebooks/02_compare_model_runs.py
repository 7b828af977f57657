# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Compare model runs
#
# Every training run of every model, next to its baselines, as the MLflow UI shows them — but in
# one table per model, with the current `@champion` marked and the promotion gate's verdict on each
# registered version. Models and baselines log the same metric names (`val_roc_auc`,
# `val_pr_auc`, ...), so one query compares them. Run `make demo` first.

# %%
import mlflow
import pandas as pd
import plotly.express as px

from rapport.ml.registry import champion_version, configure_mlflow
from rapport.report import PALETTE, show_figure

configure_mlflow()
client = mlflow.MlflowClient()
MODELS = {"churn": "val_roc_auc", "clv": "val_mae", "nbo": "val_qini_coefficient", "sentiment": "val_macro_f1"}

# %% [markdown]
# ## Runs per model, baselines beside them
# A baseline is its own run with the tag `baseline=<name>`; a model run has no such tag. Hyper-parameter
# trials (nested `trial-N` runs) and the metric-less parent run of each training are left out.

# %%
runs_by_model: dict[str, pd.DataFrame] = {}
for model in MODELS:
    experiment = client.get_experiment_by_name(f"rapport/{model}")
    if experiment is None:
        continue
    runs = mlflow.search_runs(
        [experiment.experiment_id], filter_string="attributes.status = 'FINISHED'", output_format="pandas"
    )
    metric_columns = [c for c in runs.columns if c.startswith("metrics.val_")]
    trial = (
        runs.get("tags.mlflow.runName", pd.Series(index=runs.index, dtype=object)).fillna("").str.startswith("trial-")
    )
    runs = runs[~trial & runs[metric_columns].notna().any(axis=1)].copy()  # no tuning trials, no metric-less parents
    runs["kind"] = runs.get("tags.baseline", pd.Series(index=runs.index, dtype=object)).fillna("model")
    runs_by_model[model] = runs[["run_id", "start_time", "kind", *metric_columns]].sort_values("start_time")
    print(f"\n== rapport/{model}: {len(runs)} runs")
    print(runs_by_model[model].drop(columns=["start_time"]).round(4).to_string(index=False))

assert "churn" in runs_by_model, "no churn runs: run the pipeline first"
assert {"model", "recency"} <= set(runs_by_model["churn"]["kind"]), "churn runs lack the model or its baseline"

# %% [markdown]
# ## The headline metric of each model against its baselines

# %%
for model, metric in MODELS.items():
    runs = runs_by_model.get(model)
    if runs is None or f"metrics.{metric}" not in runs:
        continue
    latest = runs.groupby("kind", as_index=False).last()
    fig = px.bar(
        latest,
        x="kind",
        y=f"metrics.{metric}",
        color="kind",
        color_discrete_sequence=PALETTE,
        title=f"rapport/{model}: {metric} of the latest run of each kind (same out-of-time holdout)",
        labels={"kind": "run", f"metrics.{metric}": metric},
    )
    show_figure(fig, f"02_{model}_{metric}")

# %% [markdown]
# ## Registered versions, the champion and why
# The promotion gate writes its decision and reason into each version's tags; the champion is found
# by its alias, never as "the latest version".

# %%
versions = []
for model in MODELS:
    name = f"rapport-{model}"
    champion = champion_version(name)
    for version in client.search_model_versions(f"name = '{name}'"):
        versions.append(
            {
                "model": name,
                "version": int(version.version),
                "champion": champion is not None and version.version == champion.version,
                "decision": version.tags.get("promotion_decision", "not yet gated"),
                "reason": version.tags.get("promotion_reason", ""),
            }
        )
registry = pd.DataFrame(versions).sort_values(["model", "version"])
print(registry.to_string(index=False, max_colwidth=90))
assert registry.loc[registry["model"] == "rapport-churn", "champion"].sum() == 1, "rapport-churn has no @champion"
print("compared model runs:", len(registry), "registered versions")
