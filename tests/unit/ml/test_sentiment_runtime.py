"""Sentiment runtime: token windows, length-bucketed batches, pooling, and the [CLS]-only classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rapport.ml.sentiment_runtime import (
    ClsHeadClassifier,
    TokenWindows,
    TorchLogits,
    pad_batch,
    pool_windows,
    token_windows,
    window_probabilities,
)


@pytest.fixture(scope="module")
def untrained():
    """MiniLM cut to two layers with a fresh, seeded head: enough to check the computation, not the quality."""
    from rapport.ml.sentiment import build_sentiment_model

    torch.manual_seed(0)
    model, tokenizer = build_sentiment_model(encoder_layers=2)
    return model.eval(), tokenizer


def test_a_long_text_becomes_overlapping_windows_that_cover_it(untrained):
    _, tokenizer = untrained
    text = " ".join(f"word{i}" for i in range(300))
    whole = tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = token_windows(tokenizer, [text, "short one"], max_length=64, overlap=16)
    first = [i for i, t in enumerate(windows.text_index) if t == 0]
    assert len(first) > 1 and windows.text_index.tolist().count(1) == 1
    assert all(length <= 64 for length in windows.lengths)
    bodies = [windows.input_ids[i][1:-1] for i in first]
    for before, after in zip(bodies[:-1], bodies[1:], strict=True):
        assert before[-16:] == after[:16]
    stitched = bodies[0] + [token for body in bodies[1:] for token in body[16:]]
    assert stitched == whole
    assert windows.weights[first].tolist() == [len(body) for body in bodies]


def test_overlap_must_leave_room_for_new_tokens(untrained):
    with pytest.raises(ValueError, match="overlap"):
        token_windows(untrained[1], ["text"], max_length=64, overlap=32)


def test_pooling_weights_windows_by_length():
    windows = TokenWindows([[1, 2], [1, 2, 3, 4], [5]], np.array([0, 0, 1]), np.array([1.0, 3.0, 1.0]))
    probabilities = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(pool_windows(probabilities, windows, 2), [[0.25, 0.0, 0.75], [0.0, 1.0, 0.0]])


def test_pad_batch_pads_right_and_masks_padding():
    ids, mask = pad_batch([[101, 7, 102], [101, 102]], pad_id=0)
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert ids.dtype == mask.dtype == np.int64


def test_cls_only_classifier_gives_the_full_models_logits(untrained):
    model, tokenizer = untrained
    batch = tokenizer(["Lovely dress, runs small.", "no"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        full = model(**batch).logits
        cls_only = ClsHeadClassifier(model)(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(cls_only, full, atol=1e-5, rtol=1e-5)


def test_sorted_batches_return_probabilities_in_window_order(untrained):
    model, tokenizer = untrained
    texts = ["A long review that goes on about the fabric and the fit for a while.", "ok", "Nice.", "Too big"]
    windows = token_windows(tokenizer, texts, max_length=32, overlap=8)
    logits = TorchLogits(model)
    sorted_ = window_probabilities(logits, windows, tokenizer.pad_token_id, batch_size=2, sort=True)
    one_by_one = window_probabilities(logits, windows, tokenizer.pad_token_id, batch_size=1, sort=False)
    np.testing.assert_allclose(sorted_, one_by_one, atol=1e-5)
    np.testing.assert_allclose(sorted_.sum(axis=1), 1.0)
