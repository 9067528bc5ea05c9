"""D-CNN contrastive hinge re-derived over explicit pair loops (and pytorch-metric-learning)."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.contrastive import DCNNContrastiveLoss

ANGLES = [0.0, 0.5, 1.2, 1.0, 3.0, 2.2]
LABELS = [0, 0, 0, 1, 1, 2]


def points():
    return [[math.cos(a), math.sin(a)] for a in ANGLES]


def make_batch(dtype, labels=LABELS):
    embeddings = torch.tensor(points(), dtype=dtype)
    return Batch(embeddings, embeddings, torch.tensor(labels), torch.arange(len(labels)))


def reference(threshold, margin, labels=LABELS):
    """Mean over positive pairs + mean over negative pairs of h(beta - y (tau - d^2))."""
    positive, negative = [], []
    rows = points()
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            squared = sum((a - b) ** 2 for a, b in zip(rows[i], rows[j], strict=True))
            sign = 1.0 if labels[i] == labels[j] else -1.0
            hinge = max(0.0, margin - sign * (threshold - squared))
            (positive if sign > 0 else negative).append(hinge)
    mean = lambda values: sum(values) / len(values) if values else 0.0  # noqa: E731
    return mean(positive) + mean(negative)


@pytest.mark.parametrize(("threshold", "margin"), [(1.0, 0.05), (0.5, 0.2), (2.0, 0.5)])
def test_matches_pair_loop(dtype, tol, threshold, margin):
    loss = DCNNContrastiveLoss(num_classes=3, dim=2, threshold=threshold, margin=margin)
    actual = loss(make_batch(dtype)).item()
    expected = reference(threshold, margin)
    assert expected > 0
    assert actual == pytest.approx(expected, rel=tol, abs=tol)


def test_batch_without_positive_pairs_has_only_the_negative_term(dtype, tol):
    labels = [0, 1, 2, 3, 4, 5]
    loss = DCNNContrastiveLoss(num_classes=6, dim=2)
    actual = loss(make_batch(dtype, labels)).item()
    assert actual == pytest.approx(reference(1.0, 0.05, labels), rel=tol, abs=tol)


def test_matches_pytorch_metric_learning_contrastive_loss():
    # pml ContrastiveLoss on squared distances: [d^2 - pos_margin]_+ and [neg_margin - d^2]_+,
    # each averaged over its pairs by MeanReducer, then summed.
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.reducers import MeanReducer

    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(20, 4, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 2, 3] * 5)
    oracle = pml_losses.ContrastiveLoss(
        pos_margin=1.0 - 0.05,
        neg_margin=1.0 + 0.05,
        distance=LpDistance(power=2),
        reducer=MeanReducer(),
    )
    ours = DCNNContrastiveLoss(num_classes=4, dim=4)
    actual = ours(Batch(embeddings, embeddings, labels, torch.arange(20))).item()
    assert actual == pytest.approx(oracle(embeddings, labels).item(), rel=1e-10)


def test_classifier_weight_adds_cross_entropy():
    loss = DCNNContrastiveLoss(num_classes=3, dim=2, classifier_weight=0.5).double()
    batch = make_batch(torch.float64)
    with torch.no_grad():
        logits = loss.classifier(batch.raw)
    ce = torch.nn.functional.cross_entropy(logits, batch.labels).item()
    assert loss(batch).item() == pytest.approx(reference(1.0, 0.05) + 0.5 * ce, rel=1e-12)
    assert not hasattr(DCNNContrastiveLoss(num_classes=3, dim=2), "classifier")


def test_invalid_margin_is_rejected():
    with pytest.raises(ValueError, match="margin"):
        DCNNContrastiveLoss(num_classes=3, dim=2, threshold=0.5, margin=0.6)
