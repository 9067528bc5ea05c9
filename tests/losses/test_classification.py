"""CE and MAE re-derived with explicit loops over hand-set classifiers and prototypes."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.classification import MeanAbsoluteErrorLoss, SoftmaxCrossEntropyLoss

RAW = [[2.0, -1.0, 0.5], [0.0, 3.0, 1.0], [-1.5, 0.5, 0.5], [1.0, 1.0, 1.0]]
LABELS = [0, 1, 2, 1]
WEIGHT = [[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [-1.0, 0.5, 2.0]]
BIAS = [0.1, -0.2, 0.3]


def unit(vector):
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def make_batch(dtype):
    raw = torch.tensor(RAW, dtype=dtype)
    embeddings = torch.nn.functional.normalize(raw, dim=1)
    return Batch(embeddings, raw, torch.tensor(LABELS), torch.arange(len(LABELS)))


def test_ce_uses_the_raw_vector(dtype, tol):
    loss = SoftmaxCrossEntropyLoss(num_classes=3, dim=3).to(dtype)
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(WEIGHT, dtype=torch.float64))
        loss.classifier.bias.copy_(torch.tensor(BIAS, dtype=torch.float64))
    expected = 0.0
    for v, y in zip(RAW, LABELS, strict=True):
        logits = [
            sum(w * x for w, x in zip(row, v, strict=True)) + b
            for row, b in zip(WEIGHT, BIAS, strict=True)
        ]
        expected += math.log(sum(math.exp(z) for z in logits)) - logits[y]
    expected /= len(LABELS)
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)


@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_mae_is_half_the_l1_distance_to_one_hot(dtype, tol, tau):
    prototypes = [[1.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0]]
    loss = MeanAbsoluteErrorLoss(num_classes=3, dim=3, temperature=tau).to(dtype)
    with torch.no_grad():
        loss.prototypes.copy_(torch.tensor(prototypes))
    expected = 0.0
    for v, y in zip(RAW, LABELS, strict=True):
        f = unit(v)
        logits = [sum(a * b for a, b in zip(f, unit(w), strict=True)) / tau for w in prototypes]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        p = [e / sum(exps) for e in exps]
        one_hot = [1.0 if c == y else 0.0 for c in range(3)]
        expected += 0.5 * sum(abs(a - b) for a, b in zip(p, one_hot, strict=True))
    expected /= len(LABELS)
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)
