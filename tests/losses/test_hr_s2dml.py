"""HR-S2DML: the high-rankness term by hand and numpy, and the joint loss by explicit loops."""

import math

import numpy as np
import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.hr_s2dml import HRS2DMLLoss, high_rankness
from rsdml.losses.nsl import ArcFaceLoss

PROTOTYPES = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
LABELLED_ANGLES = [0.2, 1.3, 3.8, 0.9]
LABELS = [0, 1, 2, 1]
UNLABELLED_ANGLES = [0.1, 1.7, 4.0, 2.5, -0.3]
UNLABELLED_LABELS = [0, 1, 2, 1, 0]
TAU, MARGIN = 0.1, 0.5


def unit(vector):
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def points(angles):
    return [[math.cos(a), math.sin(a)] for a in angles]


def cosines(f):
    return [sum(a * b for a, b in zip(f, unit(w), strict=True)) for w in PROTOTYPES]


def arcface_psi(cosine, margin):
    theta = math.acos(cosine)
    return (
        math.cos(theta + margin) if theta + margin < math.pi else cosine - margin * math.sin(margin)
    )


def arcface_reference():
    total = 0.0
    for f, y in zip(points(LABELLED_ANGLES), LABELS, strict=True):
        logits = [c / TAU for c in cosines(f)]
        logits[y] = arcface_psi(cosines(f)[y], MARGIN) / TAU
        total += math.log(sum(math.exp(z) for z in logits)) - logits[y]
    return total / len(LABELS)


def probability_matrix(temperature=True, leak=False):
    rows = []
    for f, y in zip(points(UNLABELLED_ANGLES), UNLABELLED_LABELS, strict=True):
        logits = cosines(f)
        if leak:
            logits[y] = arcface_psi(logits[y], MARGIN)
        if temperature:
            logits = [z / TAU for z in logits]
        exps = [math.exp(z) for z in logits]
        rows.append([e / sum(exps) for e in exps])
    return np.array(rows)


def make_batch(dtype, unlabelled_labels=UNLABELLED_LABELS):
    labelled = torch.tensor(points(LABELLED_ANGLES), dtype=dtype)
    return Batch(
        labelled,
        labelled,
        torch.tensor(LABELS),
        torch.arange(len(LABELS)),
        unlabelled=torch.tensor(points(UNLABELLED_ANGLES), dtype=dtype),
        unlabelled_labels=None if unlabelled_labels is None else torch.tensor(unlabelled_labels),
    )


def build(dtype, **kwargs):
    loss = HRS2DMLLoss(num_classes=3, dim=2, temperature=TAU, margin=MARGIN, **kwargs).to(dtype)
    with torch.no_grad():
        loss.prototypes.copy_(torch.tensor(PROTOTYPES))
    return loss


def test_high_rankness_of_hand_matrices():
    # Two identical one-hot rows: singular values sqrt(2) and 0.
    repeated = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    assert high_rankness(repeated).item() == pytest.approx(-math.sqrt(2) / 2)
    # A permutation of one-hot rows: all singular values 1, nuclear norm = B.
    permutation = torch.tensor(
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64
    )
    assert high_rankness(permutation).item() == pytest.approx(-1.0)
    # 2x2 [[a, b], [b, a]]: singular values |a + b| and |a - b|.
    symmetric = torch.tensor([[0.8, 0.2], [0.2, 0.8]], dtype=torch.float64)
    assert high_rankness(symmetric).item() == pytest.approx(-(1.0 + 0.6) / 2)


def test_high_rankness_is_minus_nuclear_norm_over_batch_size():
    rng = np.random.default_rng(0)
    matrix = rng.dirichlet(np.ones(4), size=6)  # B = 6 > C = 4
    nuclear = np.linalg.svd(matrix, compute_uv=False).sum()
    tensor = torch.from_numpy(matrix)
    assert high_rankness(tensor).item() == pytest.approx(-nuclear / 6, rel=1e-12)
    assert high_rankness(tensor, scale="min").item() == pytest.approx(-nuclear / 4, rel=1e-12)
    assert high_rankness(tensor).item() == pytest.approx(
        -torch.linalg.matrix_norm(tensor, ord="nuc").item() / 6, rel=1e-12
    )
    with pytest.raises(ValueError, match="scale"):
        high_rankness(tensor, scale="sum")


@pytest.mark.parametrize(
    ("options", "temperature", "leak", "divisor"),
    [
        ({}, True, False, 5),
        ({"nuclear_norm_scale": "min"}, True, False, 3),
        ({"bnm_temperature": False}, False, False, 5),
        ({"leak_labels": True}, True, True, 5),
        (
            {"bnm_temperature": False, "leak_labels": True, "nuclear_norm_scale": "min"},
            False,
            True,
            3,
        ),
    ],
)
def test_joint_loss_matches_loop(dtype, tol, options, temperature, leak, divisor):
    loss = build(dtype, hr_weight=0.7, **options)
    nuclear = np.linalg.svd(probability_matrix(temperature, leak), compute_uv=False).sum()
    expected = arcface_reference() + 0.7 * (-nuclear / divisor)
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)
    assert loss.stats()["hr_term"] == pytest.approx(-nuclear / divisor, rel=tol, abs=tol)


def test_default_reads_no_unlabelled_labels():
    loss = build(torch.float64)
    with_labels = loss(make_batch(torch.float64)).item()
    shuffled = loss(make_batch(torch.float64, unlabelled_labels=[2, 2, 0, 0, 1])).item()
    without = loss(make_batch(torch.float64, unlabelled_labels=None)).item()
    assert with_labels == shuffled == without


def test_zero_weight_is_arcface_and_needs_no_unlabelled_batch(dtype, tol):
    loss = build(dtype, hr_weight=0.0)
    arcface = ArcFaceLoss(num_classes=3, dim=2, temperature=TAU, margin=MARGIN).to(dtype)
    with torch.no_grad():
        arcface.prototypes.copy_(torch.tensor(PROTOTYPES))
    batch = make_batch(dtype)
    batch.unlabelled = None
    assert loss(batch).item() == pytest.approx(arcface(batch).item(), rel=tol, abs=tol)
    assert loss(batch).item() == pytest.approx(arcface_reference(), rel=tol, abs=tol)


def test_missing_inputs_raise_clear_errors():
    batch = make_batch(torch.float64)
    batch.unlabelled = None
    with pytest.raises(ValueError, match="unlabelled batch"):
        build(torch.float64)(batch)
    with pytest.raises(ValueError, match="unlabelled_labels"):
        build(torch.float64, leak_labels=True)(make_batch(torch.float64, unlabelled_labels=None))
    with pytest.raises(ValueError, match="nuclear_norm_scale"):
        build(torch.float64, nuclear_norm_scale="max")


def test_regulariser_gradient_reaches_unlabelled_embeddings_and_prototypes():
    loss = build(torch.float64)
    batch = make_batch(torch.float64)
    batch.unlabelled.requires_grad_(True)
    loss(batch).backward()
    assert batch.unlabelled.grad.abs().sum() > 0
    assert torch.isfinite(loss.prototypes.grad).all()
