"""NSL and ArcFace re-derived with explicit loops over hand-placed 2-D and 3-D embeddings."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.nsl import ArcFaceLoss, NormalizedSoftmaxLoss, additive_angular_margin

# Three unnormalised prototypes in 2-D (their normalisation is part of what is tested).
PROTOTYPES = [[2.0, 0.0], [0.0, 0.5], [-1.0, 1.0]]
# Angles (radians) of the embeddings and their labels; the last embedding points away from its
# class prototype (angle to it > pi - 0.5), which exercises ArcFace's fallback branch.
ANGLES = [0.1, 1.4, 2.0, 2.6, -0.5]
LABELS = [0, 1, 2, 1, 2]


def unit(vector):
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def reference_loss(embeddings, labels, prototypes, tau, margin=None):
    """-mean log softmax with an explicit loop; ArcFace target logit via acos when margin."""
    prototypes = [unit(w) for w in prototypes]
    total = 0.0
    for f, y in zip(embeddings, labels, strict=True):
        cosines = [sum(a * b for a, b in zip(f, w, strict=True)) for w in prototypes]
        logits = [c / tau for c in cosines]
        if margin is not None:
            theta = math.acos(max(-1.0, min(1.0, cosines[y])))
            if theta + margin < math.pi:
                logits[y] = math.cos(theta + margin) / tau
            else:
                logits[y] = (cosines[y] - margin * math.sin(margin)) / tau
        total += math.log(sum(math.exp(z) for z in logits)) - logits[y]
    return total / len(labels)


def make_batch(embeddings, labels, dtype):
    tensor = torch.tensor(embeddings, dtype=dtype)
    return Batch(tensor, tensor, torch.tensor(labels), torch.arange(len(labels)))


def embeddings_2d():
    return [[math.cos(a), math.sin(a)] for a in ANGLES]


def set_prototypes(loss, prototypes):
    with torch.no_grad():
        loss.prototypes.copy_(torch.tensor(prototypes))


@pytest.mark.parametrize("tau", [0.05, 0.3])
def test_nsl_matches_loop(dtype, tol, tau):
    loss = NormalizedSoftmaxLoss(num_classes=3, dim=2, temperature=tau).to(dtype)
    set_prototypes(loss, PROTOTYPES)
    actual = loss(make_batch(embeddings_2d(), LABELS, dtype))
    expected = reference_loss(embeddings_2d(), LABELS, PROTOTYPES, tau)
    assert actual.item() == pytest.approx(expected, rel=tol, abs=tol)


def test_nsl_matches_loop_in_3d(dtype, tol):
    prototypes = [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [1.0, 1.0, -1.0], [0.0, 0.0, 2.0]]
    embeddings = [unit(v) for v in ([1.0, 0.2, 0.1], [0.1, 1.0, 0.9], [0.5, 0.5, -0.7])]
    labels = [0, 3, 2]
    loss = NormalizedSoftmaxLoss(num_classes=4, dim=3, temperature=0.1).to(dtype)
    set_prototypes(loss, prototypes)
    actual = loss(make_batch(embeddings, labels, dtype))
    assert actual.item() == pytest.approx(
        reference_loss(embeddings, labels, prototypes, 0.1), rel=tol, abs=tol
    )


@pytest.mark.parametrize("margin", [0.5, 0.2, 1.0])
def test_arcface_matches_loop_including_fallback(dtype, tol, margin):
    loss = ArcFaceLoss(num_classes=3, dim=2, temperature=0.05, margin=margin).to(dtype)
    set_prototypes(loss, PROTOTYPES)
    actual = loss(make_batch(embeddings_2d(), LABELS, dtype))
    expected = reference_loss(embeddings_2d(), LABELS, PROTOTYPES, 0.05, margin=margin)
    assert actual.item() == pytest.approx(expected, rel=tol, abs=tol)


def test_fallback_branch_is_hit_by_the_hand_placed_data():
    prototype = unit(PROTOTYPES[2])
    cosine = math.cos(ANGLES[-1]) * prototype[0] + math.sin(ANGLES[-1]) * prototype[1]
    assert math.acos(cosine) + 0.5 > math.pi


def test_additive_angular_margin_values():
    cosines = torch.tensor([[0.6, -0.2], [-0.99, 0.3]], dtype=torch.float64)
    labels = torch.tensor([0, 0])
    out = additive_angular_margin(cosines, labels, 0.5)
    assert float(out[0, 0]) == pytest.approx(math.cos(math.acos(0.6) + 0.5), abs=1e-12)
    assert float(out[1, 0]) == pytest.approx(-0.99 - 0.5 * math.sin(0.5), abs=1e-12)
    assert out[:, 1].tolist() == [-0.2, 0.3]  # non-target cosines untouched
    assert torch.equal(additive_angular_margin(cosines, labels, 0.0), cosines)


def test_arcface_with_zero_margin_is_nsl(dtype, tol):
    arcface = ArcFaceLoss(num_classes=3, dim=2, margin=0.0).to(dtype)
    nsl = NormalizedSoftmaxLoss(num_classes=3, dim=2).to(dtype)
    set_prototypes(arcface, PROTOTYPES)
    set_prototypes(nsl, PROTOTYPES)
    batch = make_batch(embeddings_2d(), LABELS, dtype)
    assert arcface(batch).item() == pytest.approx(nsl(batch).item(), rel=tol, abs=tol)


def test_arcface_gradient_is_finite_on_the_prototype():
    loss = ArcFaceLoss(num_classes=2, dim=2)
    set_prototypes(loss, [[1.0, 0.0], [0.0, 1.0]])
    embeddings = torch.tensor([[1.0, 0.0]], requires_grad=True)
    loss(Batch(embeddings, embeddings, torch.tensor([0]), torch.tensor([0]))).backward()
    assert torch.isfinite(embeddings.grad).all() and torch.isfinite(loss.prototypes.grad).all()


def test_nsl_matches_pytorch_metric_learning():
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(16, 5, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 4, (16,))
    ours = NormalizedSoftmaxLoss(num_classes=4, dim=5, temperature=0.05).double()
    oracle = pml.NormalizedSoftmaxLoss(num_classes=4, embedding_size=5, temperature=0.05)
    with torch.no_grad():
        oracle.W.copy_(ours.prototypes.t())
    expected = oracle(embeddings, labels)
    assert ours(Batch(embeddings, embeddings, labels, torch.arange(16))).item() == pytest.approx(
        expected.item(), rel=1e-10
    )


def test_arcface_matches_pytorch_metric_learning():
    # pml's ArcFace: scale s = 1 / tau, margin in degrees, same fallback cos - m sin m.
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    torch.manual_seed(1)
    embeddings = torch.nn.functional.normalize(torch.randn(16, 5, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 4, (16,))
    ours = ArcFaceLoss(num_classes=4, dim=5, temperature=0.05, margin=0.5).double()
    oracle = pml.ArcFaceLoss(
        num_classes=4, embedding_size=5, margin=math.degrees(0.5), scale=1 / 0.05
    )
    with torch.no_grad():
        oracle.W.copy_(ours.prototypes.t())
    expected = oracle(embeddings, labels)
    assert ours(Batch(embeddings, embeddings, labels, torch.arange(16))).item() == pytest.approx(
        expected.item(), rel=1e-9
    )


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="temperature"):
        NormalizedSoftmaxLoss(num_classes=3, dim=2, temperature=0.0)
    with pytest.raises(ValueError, match="margin"):
        ArcFaceLoss(num_classes=3, dim=2, margin=4.0)
