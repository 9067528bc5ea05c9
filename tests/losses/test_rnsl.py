"""RNSL and t-RNSL re-derived by hand: limits in q, truncation, pruning weights and schedule."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.classification import MeanAbsoluteErrorLoss
from rsdml.losses.nsl import NormalizedSoftmaxLoss
from rsdml.losses.rnsl import (
    RobustNormalizedSoftmaxLoss,
    TruncatedRNSL,
    box_cox,
    truncated_box_cox,
)

PROTOTYPES = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]
ANGLES = [0.05, 0.8, 1.5, 2.9, 0.3, -0.4]
# The fifth and sixth samples carry "noisy" labels far from their embedding.
LABELS = [0, 1, 1, 2, 2, 1]
TAU = 0.2


def embeddings():
    return [[math.cos(a), math.sin(a)] for a in ANGLES]


def target_probabilities(tau=TAU):
    """p_{i,y_i} by an explicit loop."""
    result = []
    for (x, y), label in zip(embeddings(), LABELS, strict=True):
        logits = [(x * w[0] + y * w[1]) / tau for w in PROTOTYPES]
        result.append(math.exp(logits[label]) / sum(math.exp(z) for z in logits))
    return result


def make_batch(dtype, indices=None):
    tensor = torch.tensor(embeddings(), dtype=dtype)
    indices = torch.arange(len(LABELS)) if indices is None else torch.tensor(indices)
    return Batch(tensor, tensor, torch.tensor(LABELS), indices)


def build(cls, dtype, **kwargs):
    loss = cls(num_classes=3, dim=2, temperature=TAU, **kwargs).to(dtype)
    with torch.no_grad():
        loss.prototypes.copy_(torch.tensor(PROTOTYPES))
    return loss


@pytest.mark.parametrize("q", [0.7, 0.3, 1.0])
def test_rnsl_matches_loop(dtype, tol, q):
    loss = build(RobustNormalizedSoftmaxLoss, dtype, q=q)
    expected = sum((1 - p**q) / q for p in target_probabilities()) / len(LABELS)
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)


def test_rnsl_tends_to_nsl_as_q_goes_to_zero():
    nsl = build(NormalizedSoftmaxLoss, torch.float64)(make_batch(torch.float64)).item()
    gaps = [
        abs(
            build(RobustNormalizedSoftmaxLoss, torch.float64, q=q)(make_batch(torch.float64)).item()
            - nsl
        )
        for q in (1e-1, 1e-3, 1e-6)
    ]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-5 * nsl


def test_rnsl_at_q_one_is_one_minus_p_and_equals_mae(dtype, tol):
    rnsl = build(RobustNormalizedSoftmaxLoss, dtype, q=1.0)(make_batch(dtype)).item()
    mae = build(MeanAbsoluteErrorLoss, dtype)(make_batch(dtype)).item()
    expected = sum(1 - p for p in target_probabilities()) / len(LABELS)
    assert rnsl == pytest.approx(expected, rel=tol, abs=tol)
    assert mae == pytest.approx(expected, rel=tol, abs=tol)


def test_rnsl_gradient_is_nsl_gradient_scaled_by_p_to_the_q():
    # Per sample, d/dtheta (1 - p^q)/q = p^q * d/dtheta (-log p).
    q = 0.7
    for index, p in enumerate(target_probabilities()):
        grads = []
        for cls, kwargs in ((RobustNormalizedSoftmaxLoss, {"q": q}), (NormalizedSoftmaxLoss, {})):
            loss = build(cls, torch.float64, **kwargs)
            batch = make_batch(torch.float64)
            single = Batch(
                batch.embeddings[index : index + 1],
                batch.raw[index : index + 1],
                batch.labels[index : index + 1],
                batch.indices[index : index + 1],
            )
            loss(single).backward()
            grads.append(loss.prototypes.grad.clone())
        torch.testing.assert_close(grads[0], p**q * grads[1], rtol=1e-9, atol=1e-12)


def test_truncated_box_cox_is_constant_below_k():
    probabilities = torch.tensor([0.1, 0.5, 0.50001, 0.9], dtype=torch.float64)
    values = truncated_box_cox(probabilities, q=0.7, k=0.5)
    constant = (1 - 0.5**0.7) / 0.7
    assert values[:2].tolist() == pytest.approx([constant, constant], abs=1e-15)
    assert values[2:].tolist() == pytest.approx([(1 - p**0.7) / 0.7 for p in (0.50001, 0.9)])
    assert box_cox(0.5, 0.7) == pytest.approx(constant)


def test_trnsl_starts_as_rnsl_minus_a_constant(dtype, tol):
    q, k = 0.7, 0.5
    trnsl = build(TruncatedRNSL, dtype, q=q, k=k, num_samples=6)
    rnsl = build(RobustNormalizedSoftmaxLoss, dtype, q=q)
    constant = (1 - k**q) / q
    batch = make_batch(dtype)
    assert trnsl(batch).item() == pytest.approx(rnsl(batch).item() - constant, rel=tol, abs=tol)


def test_update_pruning_sets_weights_from_label_probabilities(dtype):
    loss = build(TruncatedRNSL, dtype, k=0.5, num_samples=6)
    batch = make_batch(dtype)
    loss.update_pruning(batch.embeddings, batch.labels)
    expected = [1.0 if p > 0.5 else 0.0 for p in target_probabilities()]
    assert loss.weights.tolist() == expected
    assert 0 < sum(expected) < 6  # the hand-placed data keep some samples and prune others
    assert loss.stats() == {"kept_fraction": pytest.approx(sum(expected) / 6)}


def test_trnsl_after_pruning_is_truncated_loss_minus_constant(dtype, tol):
    # With weights that agree with the current probabilities, each sample's term is the truncated
    # L_q minus L_q(k): RNSL minus a constant above k, and a constant (0 here) below.
    q, k = 0.7, 0.5
    loss = build(TruncatedRNSL, dtype, q=q, k=k, num_samples=6)
    batch = make_batch(dtype)
    loss.update_pruning(batch.embeddings, batch.labels)
    constant = (1 - k**q) / q
    truncated = [constant if p <= k else (1 - p**q) / q for p in target_probabilities()]
    expected = sum(truncated) / 6 - constant
    assert loss(batch).item() == pytest.approx(expected, rel=tol, abs=tol)


def test_trnsl_weights_are_keyed_by_training_indices():
    loss = build(TruncatedRNSL, torch.float64, num_samples=10)
    with torch.no_grad():
        loss.weights.zero_()
        loss.weights[7] = 1.0
    batch = make_batch(torch.float64, indices=[3, 7, 0, 1, 2, 9])  # sample 1 sits at slot 7
    q, k = 0.7, 0.5
    expected = ((1 - target_probabilities()[1] ** q) / q - (1 - k**q) / q) / 6
    assert loss(batch).item() == pytest.approx(expected, rel=1e-12)


def test_pruned_samples_get_no_gradient():
    loss = build(TruncatedRNSL, torch.float64, num_samples=6)
    with torch.no_grad():
        loss.weights.copy_(torch.tensor([1.0, 0, 0, 0, 0, 0]))
    points = torch.tensor(embeddings(), dtype=torch.float64, requires_grad=True)
    loss(Batch(points, points, torch.tensor(LABELS), torch.arange(6))).backward()
    assert points.grad[0].abs().sum() > 0
    assert points.grad[1:].abs().sum() == 0


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (130, list(range(40, 131, 10))),
        (13, list(range(4, 14))),  # start round(4.0) = 4, period max(1, round(1.0)) = 1
        (26, list(range(8, 27, 2))),  # start 8, period 2
        (
            60,
            [18, 23, 28, 33, 38, 43, 48, 53, 58],
        ),  # start round(18.46) = 18, period round(4.6) = 5
        (1, []),  # never before a model has trained and been selected
    ],
)
def test_pruning_schedule_scales_with_run_length(total, expected):
    loss = TruncatedRNSL(num_classes=3, dim=2, num_samples=6)
    assert [epoch for epoch in range(1, total + 1) if loss.pruning_due(epoch, total)] == expected


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (100, [5, 20, 35, 50, 65, 80, 95]),  # start round(5.0), period round(15.0)
        (12, [2, 4, 6, 8, 10, 12]),  # start max(2, round(0.6)), period round(1.8)
    ],
)
def test_frozen_mode_schedule(total, expected):
    loss = TruncatedRNSL(num_classes=3, dim=2, num_samples=6, prune_start=0.05, prune_every=0.15)
    assert [epoch for epoch in range(1, total + 1) if loss.pruning_due(epoch, total)] == expected


def test_pruning_arguments_are_checked():
    loss = TruncatedRNSL(num_classes=3, dim=2, num_samples=6)
    with pytest.raises(ValueError, match="1-based"):
        loss.pruning_due(0, 10)
    with pytest.raises(ValueError, match="all 6 training samples"):
        loss.update_pruning(torch.zeros(5, 2), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="k must lie"):
        TruncatedRNSL(num_classes=3, dim=2, num_samples=6, k=1.0)
