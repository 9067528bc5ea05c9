"""Triplet loss with batch-hard and semi-hard mining re-derived by brute-force loops."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.triplet import TripletLoss

POINTS = [
    [1.0, 0.0, 0.0],
    [0.8, 0.6, 0.0],
    [0.0, 1.0, 0.0],
    [0.6, 0.0, 0.8],
    [0.0, 0.6, 0.8],
    [0.0, 0.0, 1.0],
    [-1.0, 0.0, 0.0],
]
LABELS = [0, 0, 1, 1, 0, 1, 2]  # class 2 has no positive: it is never an anchor


def distance(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def make_batch(dtype, points=POINTS, labels=LABELS):
    embeddings = torch.tensor(points, dtype=dtype)
    return Batch(embeddings, embeddings, torch.tensor(labels), torch.arange(len(labels)))


def batch_hard_reference(margin):
    losses = []
    for a, (anchor, label) in enumerate(zip(POINTS, LABELS, strict=True)):
        positives = [
            distance(anchor, p) for j, p in enumerate(POINTS) if j != a and LABELS[j] == label
        ]
        negatives = [distance(anchor, n) for j, n in enumerate(POINTS) if LABELS[j] != label]
        if positives and negatives:
            losses.append(max(0.0, max(positives) - min(negatives) + margin))
    return sum(losses) / len(losses)


def semi_hard_reference(margin):
    losses = []
    for a, (anchor, label) in enumerate(zip(POINTS, LABELS, strict=True)):
        negatives = [distance(anchor, n) for j, n in enumerate(POINTS) if LABELS[j] != label]
        for p, positive in enumerate(POINTS):
            if p == a or LABELS[p] != label or not negatives:
                continue
            d_ap = distance(anchor, positive)
            farther = [d for d in negatives if d > d_ap]
            d_an = min(farther) if farther else max(negatives)
            losses.append(max(0.0, d_ap - d_an + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize("margin", [0.2, 0.05, 1.0])
def test_batch_hard_matches_loop(dtype, tol, margin):
    actual = TripletLoss(margin=margin)(make_batch(dtype)).item()
    expected = batch_hard_reference(margin)
    assert expected > 0
    assert actual == pytest.approx(expected, rel=tol, abs=tol)


@pytest.mark.parametrize("margin", [0.2, 0.05, 1.0])
def test_semi_hard_matches_loop(dtype, tol, margin):
    actual = TripletLoss(margin=margin, mining="semi_hard")(make_batch(dtype)).item()
    assert actual == pytest.approx(semi_hard_reference(margin), rel=tol, abs=tol)


def test_semi_hard_data_exercise_both_branches():
    # At least one anchor-positive pair has a farther negative and one has none.
    has_farther = []
    for a, label in enumerate(LABELS):
        negatives = [distance(POINTS[a], n) for j, n in enumerate(POINTS) if LABELS[j] != label]
        for p in range(len(POINTS)):
            if p != a and LABELS[p] == label:
                has_farther.append(any(d > distance(POINTS[a], POINTS[p]) for d in negatives))
    assert any(has_farther) and not all(has_farther)


def test_batch_hard_matches_pytorch_metric_learning():
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning.miners import BatchHardMiner
    from pytorch_metric_learning.reducers import MeanReducer

    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(24, 5, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 2, 3] * 6)
    oracle = pml_losses.TripletMarginLoss(margin=0.2, reducer=MeanReducer())
    expected = oracle(embeddings, labels, BatchHardMiner()(embeddings, labels)).item()
    actual = TripletLoss(margin=0.2)(Batch(embeddings, embeddings, labels, torch.arange(24))).item()
    assert actual == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_batch_without_triplets_gives_zero_and_finite_gradient(mining):
    embeddings = torch.tensor(POINTS[:3], requires_grad=True)
    batch = Batch(embeddings, embeddings, torch.tensor([1, 1, 1]), torch.arange(3))
    loss = TripletLoss(mining=mining)(batch)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(embeddings.grad).all()


def test_invalid_mining_is_rejected():
    with pytest.raises(ValueError, match="mining"):
        TripletLoss(mining="hardest")
