"""Sentiment scoring throughput and accuracy, every path measured in the same run on the same real reviews.

    .venv/bin/python benchmarks/bench_sentiment.py                       # trains both models (minutes)
    .venv/bin/python benchmarks/bench_sentiment.py --reference DIR --candidate DIR --repeats 3

Texts: the review corpus's test split (title + text, as the pipeline scores them), in corpus order.
Models: ``--reference`` is the full six-layer MiniLM classifier, ``--candidate`` the configured one
(``ml/sentiment/config.yaml``); without them both are trained with ``train_sentiment`` (train size
``--train-size``) in a throw-away RAPPORT_HOME. Paths timed, interleaved ``--repeats`` times (the median
is reported, since other jobs share the CPU):

- ``fp32_unsorted``: the reference as plain ``transformers`` fp32 (batch 32, input order, padding per batch) —
  the yardstick every ratio is taken against;
- ``fp32_sorted``: the same, batches sorted by text length;
- ``reference_onnx_int8``: the reference through Rapport's scorer (token windows, length buckets, last
  layer at [CLS] only, int8 ONNX Runtime);
- ``candidate_torch`` and ``candidate_onnx_int8``: the configured model through Rapport's scorer
  (``--candidate-layers N`` trains a layer-dropped student instead of the configured depth);
- ``vader``: the lexicon baseline ``vaderSentiment`` on the same texts (no model, no FLOPs counted).

Share of peak: useful FLOPs per second (2 x weights per token of the layers each path actually runs)
over the fp32 peak of a large ``torch.matmul`` measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
BATCH_SIZE = 32


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of a square ``torch.matmul`` over ``repeats`` tries (threads = cores)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def layer_mflops_per_token(model) -> float:
    """MFLOPs per token of one encoder layer's matrix products (2 x its dense weights)."""
    hidden, intermediate = model.config.hidden_size, model.config.intermediate_size
    return 2 * (4 * hidden * hidden + 2 * hidden * intermediate) / 1e6


def path_mflops_per_token(model, cls_only_last_layer: bool) -> float:
    """Work per token of a path: full layers, plus only the key/value projections of a [CLS]-only last layer."""
    per_layer = layer_mflops_per_token(model)
    layers = model.config.num_hidden_layers
    if not cls_only_last_layer:
        return layers * per_layer
    hidden = model.config.hidden_size
    return (layers - 1) * per_layer + 2 * 2 * hidden * hidden / 1e6


def plain_transformers(model, tokenizer, max_length: int, sort: bool) -> Callable[[list[str]], np.ndarray]:
    """Probabilities from the plain ``transformers`` model: no windows, no [CLS] shortcut, fp32 PyTorch."""
    import torch

    def predict(texts: list[str]) -> np.ndarray:
        order = np.argsort([len(t) for t in texts], kind="stable") if sort else np.arange(len(texts))
        out = np.zeros((len(texts), model.config.num_labels))
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH_SIZE):
                index = order[start : start + BATCH_SIZE]
                batch = tokenizer(
                    [texts[i] for i in index], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
                )
                out[index] = torch.softmax(model(**batch).logits, dim=-1).numpy()
        return out

    return predict


def vader_probabilities(texts: list[str]) -> np.ndarray:
    """VADER's label per text (rapport's thresholds on its compound score) as one-hot probabilities."""
    from rapport.ml.corpus import LABELS
    from rapport.ml.sentiment import vader_labels

    return np.eye(len(LABELS))[[LABELS.index(label) for label in vader_labels(texts)]]


def train_models(train_size: int, candidate_layers: int | None = None) -> tuple[str, str]:
    """Train the six-layer reference and the candidate (configured, or ``candidate_layers`` deep); returns their
    model folders."""
    from rapport.ml.sentiment import train_sentiment

    reference = train_sentiment(train_size=train_size, train_overrides={"encoder_layers": 6, "trained_layers": 1})
    print(f"reference model: {reference['model_dir']}", flush=True)
    overrides = {"encoder_layers": candidate_layers} if candidate_layers else None
    candidate = train_sentiment(train_size=train_size, train_overrides=overrides)
    print(f"candidate model: {candidate['model_dir']}", flush=True)
    return reference["model_dir"], candidate["model_dir"]


def run(reference_dir: str, candidate_dir: str, repeats: int, limit: int | None) -> dict:
    from rapport.ml.corpus import LABELS, load_corpus
    from rapport.ml.sentiment import SentimentScorer, classification_metrics, review_inputs

    load_at_start = os.getloadavg()[0]
    corpus = load_corpus()
    test = corpus[corpus["split"] == "test"]
    test = test.head(limit) if limit else test
    texts, labels = review_inputs(test), test["label"].tolist()

    reference = SentimentScorer.load(reference_dir, runtime="torch")
    reference_int8 = SentimentScorer.load(reference_dir, runtime="onnx-int8")
    candidate = SentimentScorer.load(candidate_dir, runtime="torch")
    candidate_int8 = SentimentScorer.load(candidate_dir, runtime="onnx-int8")
    if [reference.model.config.id2label[i].lower() for i in range(len(LABELS))] != list(LABELS):
        raise ValueError(f"{reference_dir}: expected labels in the order {LABELS}")
    tokens = sum(len(ids) for ids in reference.tokenizer(texts, truncation=True, max_length=512)["input_ids"])

    paths = {
        "fp32_unsorted": (
            plain_transformers(reference.model, reference.tokenizer, reference.max_length, False),
            reference,
            False,
        ),
        "fp32_sorted": (
            plain_transformers(reference.model, reference.tokenizer, reference.max_length, True),
            reference,
            False,
        ),
        "reference_onnx_int8": (reference_int8.probabilities, reference, True),
        "candidate_torch": (candidate.probabilities, candidate, True),
        "candidate_onnx_int8": (candidate_int8.probabilities, candidate, True),
        "vader": (vader_probabilities, None, False),
    }
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    metrics = {}
    for repeat in range(repeats):
        for name, (predict, _, _) in paths.items():
            started = time.perf_counter()
            probabilities = predict(texts)
            seconds[name].append(time.perf_counter() - started)
            if repeat == 0:
                metrics[name] = classification_metrics(labels, probabilities)
            print(f"repeat {repeat + 1}  {name:<22} {len(texts) / seconds[name][-1]:8.1f} reviews/s", flush=True)

    peak = matmul_peak_gflops()
    baseline = statistics.median(seconds["fp32_unsorted"])
    rows = {}
    for name, (_, scorer, cls_only) in paths.items():
        median = statistics.median(seconds[name])
        mflops = path_mflops_per_token(scorer.model, cls_only) if scorer is not None else 0.0
        gflops = tokens / median * mflops / 1e3
        rows[name] = {
            "reviews_per_s": round(len(texts) / median, 1),
            "tokens_per_s": round(tokens / median),
            "seconds": [round(s, 2) for s in seconds[name]],
            "vs_fp32_unsorted": round(baseline / median, 2),
            "encoder_layers": scorer.model.config.num_hidden_layers if scorer is not None else 0,
            "mflops_per_token": round(mflops, 2),
            "gflops": round(gflops, 2),
            "share_of_fp32_peak": round(gflops / peak, 4),
            "macro_f1": round(metrics[name]["macro_f1"], 4),
            "accuracy": round(metrics[name]["accuracy"], 4),
            "macro_f1_vs_fp32_points": round(
                100 * (metrics[name]["macro_f1"] - metrics["fp32_unsorted"]["macro_f1"]), 2
            ),
        }
    return {
        "date": date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_1m_at_start": load_at_start,
            "load_avg_1m_at_end": os.getloadavg()[0],
        },
        "texts": len(texts),
        "tokens": tokens,
        "split": "test",
        "batch_size": BATCH_SIZE,
        "repeats": repeats,
        "fp32_matmul_peak_gflops": round(peak, 1),
        "reference": reference_dir,
        "candidate": candidate_dir,
        "paths": rows,
    }


def markdown(result: dict) -> str:
    lines = [
        f"Sentiment scoring, {result['texts']:,} test-split reviews ({result['tokens']:,} tokens), "
        f"{result['machine']['cpus']} CPUs, median of {result['repeats']}; fp32 matmul peak "
        f"{result['fp32_matmul_peak_gflops']} GFLOP/s; load average (1 min) {result['machine']['load_avg_1m_at_start']:.1f} "
        f"at start, {result['machine']['load_avg_1m_at_end']:.1f} at end",
        "",
        "| path | layers | reviews/s | x fp32 unsorted | GFLOP/s | share of peak | macro-F1 | Δ macro-F1 (points) | accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["paths"].items():
        model = row["encoder_layers"] > 0
        share = f"{row['share_of_fp32_peak']:.1%}" if model else "-"
        lines.append(
            f"| {name} | {row['encoder_layers'] if model else '-'} | {row['reviews_per_s']} | {row['vs_fp32_unsorted']} | "
            f"{row['gflops'] if model else '-'} | {share} | "
            f"{row['macro_f1']:.4f} | {row['macro_f1_vs_fp32_points']:+.2f} | {row['accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", help="six-layer model folder (default: train one)")
    parser.add_argument("--candidate", help="configured model folder (default: train one)")
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--candidate-layers", type=int, help="train the candidate with this many encoder layers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="score only the first N test-split reviews")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="rapport-bench-sentiment-"))
    os.environ["RAPPORT_HOME"] = str(home)
    from rapport.orchestration import TELEMETRY_OFF, apply_environment

    apply_environment(TELEMETRY_OFF)
    reference, candidate = args.reference, args.candidate
    if not (reference and candidate):
        reference, candidate = train_models(args.train_size, args.candidate_layers)
    result = run(reference, candidate, args.repeats, args.limit)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"sentiment-{result['date']}"
    (args.output / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.output / f"{stem}.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    print(f"results: {args.output / stem}.json (state in {home})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
