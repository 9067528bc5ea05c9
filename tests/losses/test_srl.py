"""SRL (our ranked-list-style reconstruction) re-derived with explicit loops and by hand."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.srl import SimilarityRetentionLoss

ANGLES = [0.0, 0.3, 1.1, 1.5, 2.0, 2.1, 4.0, 0.9]
LABELS = [0, 0, 0, 1, 1, 1, 2, 2]


def points(angles=ANGLES):
    return [[math.cos(a), math.sin(a)] for a in angles]


def distance(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def make_batch(dtype, angles=ANGLES, labels=LABELS):
    embeddings = torch.tensor(points(angles), dtype=dtype)
    return Batch(embeddings, embeddings, torch.tensor(labels), torch.arange(len(labels)))


def reference(alpha, m, t_n, lambda_n, beta, threshold=None, angles=ANGLES, labels=LABELS):
    """The docstring's formula with explicit loops over anchors, positives and negatives."""
    threshold = alpha - m if threshold is None else threshold
    rows = points(angles)
    total = 0.0
    for i, anchor in enumerate(rows):
        positives = [
            distance(anchor, rows[j]) for j in range(len(rows)) if j != i and labels[j] == labels[i]
        ]
        negatives = [distance(anchor, rows[j]) for j in range(len(rows)) if labels[j] != labels[i]]
        hard = [d for d in positives if d > threshold]
        easy = [d for d in positives if d <= threshold]
        positive_term = 0.0
        if hard:
            ratio = len(easy) / len(hard)
            weight = 1 + beta * ratio / (1 + ratio)
            positive_term = weight * sum(max(0.0, d - (alpha - m)) for d in hard) / len(hard)
        violating = [d for d in negatives if d < alpha]
        negative_term = 0.0
        if violating:
            weights = [math.exp(t_n * (alpha - d)) for d in violating]
            negative_term = sum(
                w * (alpha - d) for w, d in zip(weights, violating, strict=True)
            ) / sum(weights)
        total += positive_term + lambda_n * negative_term
    return total / len(rows)


@pytest.mark.parametrize(
    ("alpha", "m", "t_n", "lambda_n", "beta"),
    [(1.2, 0.4, 10.0, 1.0, 1.0), (1.0, 0.6, 2.0, 0.5, 3.0), (1.4, 0.2, 10.0, 2.0, 0.0)],
)
def test_matches_loop(dtype, tol, alpha, m, t_n, lambda_n, beta):
    loss = SimilarityRetentionLoss(
        boundary=alpha,
        margin=m,
        negative_temperature=t_n,
        negative_weight=lambda_n,
        positive_weight_gain=beta,
    )
    expected = reference(alpha, m, t_n, lambda_n, beta)
    assert expected > 0
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)


def test_separate_hard_positive_threshold(dtype, tol):
    loss = SimilarityRetentionLoss(positive_threshold=0.5)
    expected = reference(1.2, 0.4, 10.0, 1.0, 1.0, threshold=0.5)
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)


def test_hand_computed_three_point_case():
    # Anchor 0 at angle 0; a positive at angle 1.2 (d = 2 sin 0.6), an easy positive at 0.2
    # (d = 2 sin 0.1 < 0.8) and a negative at 0.5 (d = 2 sin 0.25 < 1.2).
    angles, labels = [0.0, 1.2, 0.2, 0.5], [0, 0, 0, 1]
    d = {k: 2 * math.sin(k / 2) for k in (0.2, 0.3, 0.5, 0.7, 1.0, 1.2)}
    # Anchor 0: hard {1.2}, easy {0.2}: weight 1 + 1/2; one violating negative: weight 1.
    anchor0 = 1.5 * (d[1.2] - 0.8) + (1.2 - d[0.5])
    # Anchor 1 (1.2): positives at distance d[1.2] (hard), d[1.0] (hard): weight 1; negative d[0.7].
    anchor1 = ((d[1.2] - 0.8) + (d[1.0] - 0.8)) / 2 + (1.2 - d[0.7])
    # Anchor 2 (0.2): positives d[0.2] (easy), d[1.0] (hard): weight 1.5; negative d[0.3].
    anchor2 = 1.5 * (d[1.0] - 0.8) + (1.2 - d[0.3])
    # Anchor 3 (the negative, alone in its class): three violating negatives, softmax-weighted.
    others = [d[0.5], d[0.7], d[0.3]]
    weights = [math.exp(10 * (1.2 - x)) for x in others]
    anchor3 = sum(w * (1.2 - x) for w, x in zip(weights, others, strict=True)) / sum(weights)
    expected = (anchor0 + anchor1 + anchor2 + anchor3) / 4
    batch = make_batch(torch.float64, angles, labels)
    assert SimilarityRetentionLoss()(batch).item() == pytest.approx(expected, rel=1e-12)


def test_class_spread_inside_the_boundary_costs_nothing():
    # Each class spread within 0.8 of each other and far from the other class: zero loss.
    angles, labels = [0.0, 0.3, 0.6, 3.0, 3.3, 3.6], [0, 0, 0, 1, 1, 1]
    assert SimilarityRetentionLoss()(make_batch(torch.float64, angles, labels)).item() == 0.0


def test_negative_weights_are_constants_in_the_gradient():
    # Gradient = that of the weighted hinges with the weights frozen at their current values.
    batch = make_batch(torch.float64)
    embeddings = batch.embeddings.clone().requires_grad_(True)
    SimilarityRetentionLoss(margin=1.1, positive_weight_gain=0.0)(
        Batch(embeddings, embeddings, batch.labels, batch.indices)
    ).backward()
    frozen = embeddings.detach().clone().requires_grad_(True)
    rows = frozen.shape[0]
    total = frozen.new_zeros(())
    for i in range(rows):
        violating = [
            j
            for j in range(rows)
            if LABELS[j] != LABELS[i] and (frozen[i] - frozen[j]).norm().item() < 1.2
        ]
        if not violating:
            continue
        weights = [math.exp(10 * (1.2 - (frozen[i] - frozen[j]).norm().item())) for j in violating]
        for w, j in zip(weights, violating, strict=True):
            total = total + w / sum(weights) * (1.2 - (frozen[i] - frozen[j]).norm())
    # margin 1.1 puts the positive boundary at 0.1: positives also contribute.
    for i in range(rows):
        hard = [
            j
            for j in range(rows)
            if j != i and LABELS[j] == LABELS[i] and (frozen[i] - frozen[j]).norm().item() > 0.1
        ]
        for j in hard:
            total = total + ((frozen[i] - frozen[j]).norm() - 0.1) / len(hard)
    (total / rows).backward()
    torch.testing.assert_close(embeddings.grad, frozen.grad, rtol=1e-10, atol=1e-12)


def test_sampler_is_balanced_and_arguments_are_checked():
    assert SimilarityRetentionLoss.needs.sampler == "balanced"
    with pytest.raises(ValueError, match="margin"):
        SimilarityRetentionLoss(boundary=1.0, margin=1.0)
