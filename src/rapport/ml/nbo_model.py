"""The registered form of the next-best-offer model: an MLflow pyfunc around the T-learner.

Imported only by training and scoring (it imports MLflow), so ``rapport.ml.uplift`` stays light. Scoring
loads ``models:/rapport-nbo/<champion version>`` and unwraps the learner to read uplift and propensity.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from rapport.ml.uplift import TLearner


class UpliftModel(mlflow.pyfunc.PythonModel):
    """Predicts, per (customer, offer) row: ``uplift``, ``propensity`` (treated) and ``control_response``."""

    def __init__(self, learner: TLearner) -> None:
        self.learner = learner

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        propensity = self.learner.response(model_input)
        control = self.learner.control_response(model_input)
        return pd.DataFrame({"uplift": propensity - control, "propensity": propensity, "control_response": control})


def log_uplift_model(learner: TLearner, example: pd.DataFrame, model_name: str) -> str:
    """Log the learner in the active run and register it under ``model_name``; return the new version."""
    import numpy as np
    import xgboost
    from mlflow.models import infer_signature

    model = UpliftModel(learner)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        signature=infer_signature(example, model.predict(None, example)),
        input_example=example,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"xgboost=={xgboost.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
        ],
        registered_model_name=model_name,
    )
    return str(info.registered_model_version)


def load_uplift_model(model_name: str, version: str) -> TLearner:
    """The T-learner of a registered version (resolved once, so a promotion mid-run cannot mix versions)."""
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    return loaded.unwrap_python_model().learner
