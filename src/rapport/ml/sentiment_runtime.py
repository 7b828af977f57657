"""How the sentiment classifier turns texts into class probabilities fast on CPU.

Texts are cut into overlapping token windows (a long review is read whole, not truncated), the
windows are batched by length (little padding), run through one of two runtimes, and each text's
window probabilities are pooled, weighted by window length:

- ``torch``: the PyTorch model under ``torch.inference_mode`` with as many threads as cores;
- ``onnx-int8``: the same classifier exported to ONNX and dynamically quantized to int8 weights
  (``onnxruntime.quantization.quantize_dynamic``), built once per model version and cached.

Both compute the last encoder layer at the ``[CLS]`` position only: the pooler reads nothing else
from it, so the other positions are wasted work (a sixth of a six-layer encoder, a third of three).
This module imports torch; import it only where a model runs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx-int8")
ONNX_FILE = "model.int8.onnx"

LogitsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --- the classifier's computation ---------------------------------------------------------------------


def cls_layer_output(layer, hidden, mask):
    """A BERT layer's output at the [CLS] position only: the same values as ``layer`` gives there, for less work.

    The pooler reads nothing else from the last layer, so its other positions need not be computed.
    """
    attention = layer.attention.self
    heads, size = attention.num_attention_heads, attention.attention_head_size

    def split(states):
        return states.view(states.shape[0], states.shape[1], heads, size).transpose(1, 2)

    context = torch.nn.functional.scaled_dot_product_attention(
        split(attention.query(hidden[:, :1])),
        split(attention.key(hidden)),
        split(attention.value(hidden)),
        attn_mask=mask[:, None, None, :].bool(),
        dropout_p=attention.dropout.p if layer.training else 0.0,
        scale=attention.scaling,
    )
    context = context.transpose(1, 2).reshape(hidden.shape[0], 1, heads * size)
    attended = layer.attention.output(context, hidden[:, :1])
    return layer.output(layer.intermediate(attended), attended)


def head_logits(model, hidden, mask, first_layer: int):
    """Logits of a BertForSequenceClassification from the hidden states entering encoder layer ``first_layer``.

    Training runs it on cached lower-layer states; scoring on the embeddings (``first_layer`` 0).
    """
    *full, last = model.bert.encoder.layer[first_layer:]
    if full:
        attend = mask[:, None, None, :].bool()
        for layer in full:
            hidden = layer(hidden, attend)
    return model.classifier(model.dropout(model.bert.pooler(cls_layer_output(last, hidden, mask))))


class ClsHeadClassifier(torch.nn.Module):
    """``input_ids, attention_mask -> logits`` of a BertForSequenceClassification, last layer at [CLS] only."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        hidden = self.model.bert.embeddings(input_ids=input_ids)
        return head_logits(self.model, hidden, attention_mask, 0)


# --- windows, batches, pooling ------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenWindows:
    """Token ids of each window (special tokens included), the text it came from, and its pooling weight."""

    input_ids: list[list[int]]
    text_index: np.ndarray
    weights: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def token_windows(tokenizer, texts: Sequence[str], max_length: int, overlap: int) -> TokenWindows:
    """Every text as windows of at most ``max_length`` tokens, consecutive windows sharing ``overlap`` tokens.

    A text that fits is one window. The weight of a window is the number of text tokens it holds.
    """
    if not 0 <= overlap < max_length // 2:
        raise ValueError(f"window overlap must be in [0, max_length / 2), got {overlap} for max_length {max_length}")
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=overlap,
        return_overflowing_tokens=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    ids = encoded["input_ids"]
    special = tokenizer.num_special_tokens_to_add(pair=False)
    weights = np.fromiter((max(len(row) - special, 1) for row in ids), dtype=float, count=len(ids))
    return TokenWindows(ids, np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64), weights)


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` int64 arrays, padded on the right to the longest row."""
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def window_probabilities(
    logits: LogitsFn,
    windows: TokenWindows,
    pad_id: int,
    batch_size: int = 32,
    sort: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Class probabilities of every window, in window order; batches are of similar length when ``sort``."""
    from tqdm.auto import tqdm

    count = len(windows.input_ids)
    order = np.argsort(windows.lengths, kind="stable") if sort else np.arange(count)
    probabilities: np.ndarray | None = None
    for start in tqdm(range(0, count, batch_size), desc="sentiment", unit="batch", disable=not progress):
        index = order[start : start + batch_size]
        batch = softmax(np.asarray(logits(*pad_batch([windows.input_ids[i] for i in index], pad_id)), dtype=float))
        if probabilities is None:
            probabilities = np.zeros((count, batch.shape[1]))
        probabilities[index] = batch
    return probabilities if probabilities is not None else np.zeros((0, 0))


def pool_windows(probabilities: np.ndarray, windows: TokenWindows, texts: int) -> np.ndarray:
    """Each text's probabilities: the mean of its windows' probabilities weighted by their length."""
    pooled = np.zeros((texts, probabilities.shape[1]))
    np.add.at(pooled, windows.text_index, probabilities * windows.weights[:, None])
    total = np.bincount(windows.text_index, weights=windows.weights, minlength=texts)
    return pooled / np.maximum(total, 1e-12)[:, None]


# --- runtimes -----------------------------------------------------------------------------------------


class TorchLogits:
    """Logits from the PyTorch model, threads set to the cores, no autograd."""

    def __init__(self, model) -> None:
        torch.set_num_threads(os.cpu_count() or 1)
        self.module = ClsHeadClassifier(model.eval()).eval()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.module(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return logits.float().numpy()


class OnnxLogits:
    """Logits from an ONNX Runtime session over an exported classifier."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]


def export_onnx(model, path: Path) -> Path:
    """Export the classifier (last layer at [CLS] only) to ONNX with dynamic batch and sequence axes."""
    module = ClsHeadClassifier(model.eval()).eval()
    example = (torch.tensor([[101, 2293, 2009, 102]] * 2), torch.ones(2, 4, dtype=torch.int64))
    torch.onnx.export(
        module,
        example,
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
        opset_version=17,
        dynamo=False,
    )
    return path


def build_onnx_int8(model, target: Path) -> Path:
    """Export ``model`` and quantize its weights to int8 at ``target``; written whole or not at all."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        fp32 = export_onnx(model, Path(work) / "model.onnx")
        partial = Path(work) / ONNX_FILE
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(partial, target)
    return target


def cached_onnx_int8(model, cache_dir: Path) -> Path:
    """The int8 ONNX file of ``model`` under ``cache_dir`` (one folder per model version), built on first use."""
    target = cache_dir / ONNX_FILE
    if not target.exists():
        log.info("building the int8 ONNX sentiment model at %s", target)
        build_onnx_int8(model, target)
    return target


def runtime_logits(runtime: str, model, cache_dir: Path) -> LogitsFn:
    """The logits function of ``runtime`` (one of :data:`RUNTIMES`) for ``model``."""
    if runtime == "torch":
        return TorchLogits(model)
    if runtime == "onnx-int8":
        return OnnxLogits(cached_onnx_int8(model, cache_dir))
    raise ValueError(f"unknown sentiment runtime {runtime!r} (RAPPORT_SENTIMENT_RUNTIME); choose one of {RUNTIMES}")
