"""Tests of the Batch contract, the MetricLoss defaults and the shared helpers."""

import math

import pytest
import torch

from rsdml.losses.base import (
    Batch,
    MetricLoss,
    Needs,
    PrototypeLoss,
    euclidean_distances,
    linear_classifier,
    same_label_masks,
)


def test_batch_rejects_mismatched_rows():
    embeddings = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="Batch.labels has 3 rows"):
        Batch(embeddings, embeddings, torch.zeros(3, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError, match="Batch.momentum has 2 rows"):
        Batch(
            embeddings,
            embeddings,
            torch.zeros(4, dtype=torch.long),
            torch.arange(4),
            momentum=torch.zeros(2, 3),
        )
    with pytest.raises(ValueError, match=r"must be \(B, D\)"):
        Batch(torch.zeros(4), embeddings, torch.zeros(4, dtype=torch.long), torch.arange(4))


def test_batch_accepts_unlabelled_batch_of_another_size():
    embeddings = torch.zeros(4, 3)
    batch = Batch(
        embeddings,
        embeddings,
        torch.zeros(4, dtype=torch.long),
        torch.arange(4),
        unlabelled=torch.zeros(7, 3),
    )
    assert batch.unlabelled.shape == (7, 3)


def test_metric_loss_hooks_default_to_no_ops():
    loss = MetricLoss()
    assert loss.needs == Needs() and loss.needs.hooks == frozenset()
    assert loss.needs.sampler == "random"
    assert loss.stats() == {}
    assert loss.pruning_due(40, 130) is False
    loss.init_memory(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    loss.update_pruning(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    loss.set_progress(0.25)
    assert loss.progress == 0.25
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        loss.set_progress(1.5)
    with pytest.raises(NotImplementedError, match="has_class_probabilities"):
        loss.class_probabilities(torch.zeros(2, 3))


def test_prototype_probabilities_use_normalised_prototypes(dtype, tol):
    loss = PrototypeLoss(num_classes=3, dim=2, temperature=0.5).to(dtype)
    with torch.no_grad():  # unnormalised on purpose: only directions may matter
        loss.prototypes.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, -1.0]]))
    angle = 0.3
    embeddings = torch.tensor([[math.cos(angle), math.sin(angle)]], dtype=dtype)
    cosines = [
        math.cos(angle),
        math.sin(angle),
        -(math.cos(angle) + math.sin(angle)) / math.sqrt(2),
    ]
    exps = [math.exp(c / 0.5) for c in cosines]
    expected = [e / sum(exps) for e in exps]
    actual = loss.class_probabilities(embeddings)[0].tolist()
    assert actual == pytest.approx(expected, rel=tol, abs=tol)


def test_euclidean_distances_match_brute_force(dtype, tol):
    points = torch.tensor([[0.0, 0.0, 1.0], [3.0, 4.0, 0.0], [1.0, -1.0, 2.0]], dtype=dtype)
    distances = euclidean_distances(points)
    squared = euclidean_distances(points, squared=True)
    for i in range(3):
        for j in range(3):
            expected = sum(
                (a - b) ** 2 for a, b in zip(points[i].tolist(), points[j].tolist(), strict=True)
            )
            assert float(squared[i, j]) == pytest.approx(expected, rel=tol, abs=10 * tol)
            if i != j:
                assert float(distances[i, j]) == pytest.approx(math.sqrt(expected), rel=tol)


def test_euclidean_distances_have_finite_gradient_at_coincident_points():
    points = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    euclidean_distances(points).sum().backward()
    assert torch.isfinite(points.grad).all()


def test_same_label_masks_exclude_the_diagonal():
    positive, negative = same_label_masks(torch.tensor([0, 1, 0]))
    assert positive.tolist() == [[False, False, True], [False, False, False], [True, False, False]]
    assert negative.tolist() == [[False, True, False], [True, False, True], [False, True, False]]


def test_linear_classifier_starts_with_zero_bias():
    classifier = linear_classifier(dim=5, num_classes=3)
    assert classifier.weight.shape == (3, 5)
    assert torch.count_nonzero(classifier.bias) == 0


def test_needs_name_the_hooks_and_refuse_impossible_combinations():
    assert Needs(memory=True, momentum_encoder=True).hooks == {"memory", "momentum_encoder"}
    with pytest.raises(ValueError, match="sampler"):
        Needs(sampler="hard")
    with pytest.raises(ValueError, match="resume"):
        Needs(pruning=True, pruning_resume="best")
    with pytest.raises(ValueError, match="unlabelled_labels"):
        Needs(unlabelled_labels=True)


def test_options_that_change_what_the_loop_does_show_in_the_needs():
    from rsdml.losses import create

    leak = create("hr_s2dml", num_classes=3, dim=4, num_samples=8, leak_labels=True)
    assert leak.needs.unlabelled_labels and not type(leak).needs.unlabelled_labels
    pruning = create("trnsl", num_classes=3, dim=4, num_samples=8, resume="selected")
    assert pruning.needs.pruning_resume == "selected" and pruning.needs.pruning
