"""SNCA against a hand-set memory, the MB and MU memory updates, and SNCA-CE, by explicit loops."""

import math

import pytest
import torch

from rsdml.losses.base import Batch
from rsdml.losses.snca import (
    SNCACEMemoryBank,
    SNCACEMomentum,
    SNCAMemoryBank,
    SNCAMomentum,
    snca_loss,
)

# A memory of six unit vectors in 2-D with labels; the batch holds samples 1, 4 and 5.
MEMORY_ANGLES = [0.0, 0.4, 1.6, 2.0, -0.3, 3.0]
MEMORY_LABELS = [0, 0, 1, 1, 0, 2]
BATCH_ANGLES = [0.3, -0.1, 2.5]
BATCH_INDICES = [1, 4, 5]
BATCH_LABELS = [0, 0, 2]  # sample 5 is the only one of class 2: no positive, dropped


def points(angles):
    return [[math.cos(a), math.sin(a)] for a in angles]


def reference_snca(batch, batch_labels, batch_indices, memory, memory_labels, sigma, margin=0.0):
    """-1/B sum_i log p_i with explicit loops; samples without positives are dropped."""
    total = 0.0
    for f, y, own in zip(batch, batch_labels, batch_indices, strict=True):
        positive = negative = 0.0
        for j, (m, label) in enumerate(zip(memory, memory_labels, strict=True)):
            if j == own:
                continue
            weight = math.exp(sum(a * b for a, b in zip(f, m, strict=True)) / sigma)
            if label == y:
                positive += weight * math.exp(-margin)
            else:
                negative += weight
        if positive > 0:
            total += -math.log(positive / (positive + negative))
    return total / len(batch)


def make_batch(dtype, momentum=None):
    embeddings = torch.tensor(points(BATCH_ANGLES), dtype=dtype)
    return Batch(
        embeddings,
        embeddings * 3.0,
        torch.tensor(BATCH_LABELS),
        torch.tensor(BATCH_INDICES),
        momentum=momentum,
    )


def loaded(cls, dtype, **kwargs):
    loss = cls(num_classes=3, dim=2, num_samples=6, **kwargs).to(dtype)
    loss.init_memory(torch.tensor(points(MEMORY_ANGLES), dtype=dtype), torch.tensor(MEMORY_LABELS))
    return loss


@pytest.mark.parametrize(("sigma", "margin"), [(0.05, 0.0), (0.5, 0.0), (0.1, 0.7)])
def test_snca_matches_loop(dtype, tol, sigma, margin):
    loss = loaded(SNCAMemoryBank, dtype, temperature=sigma, margin=margin)
    expected = reference_snca(
        points(BATCH_ANGLES),
        BATCH_LABELS,
        BATCH_INDICES,
        points(MEMORY_ANGLES),
        MEMORY_LABELS,
        sigma,
        margin,
    )
    assert loss(make_batch(dtype)).item() == pytest.approx(expected, rel=tol, abs=tol)


def test_self_exclusion_changes_the_loss():
    # Excluding the own slot matters: counting it would, among others, make sample 5 (alone in
    # class 2) its own positive instead of being dropped.
    memory = torch.tensor(points(MEMORY_ANGLES), dtype=torch.float64)
    batch = make_batch(torch.float64)
    args = (batch.labels, batch.indices, memory, torch.tensor(MEMORY_LABELS), 0.1)
    excluded = snca_loss(batch.embeddings, *args).item()
    expected = reference_snca(
        points(BATCH_ANGLES), BATCH_LABELS, BATCH_INDICES, points(MEMORY_ANGLES), MEMORY_LABELS, 0.1
    )
    not_excluded = reference_snca(
        points(BATCH_ANGLES), BATCH_LABELS, [-1, -1, -1], points(MEMORY_ANGLES), MEMORY_LABELS, 0.1
    )
    assert excluded == pytest.approx(expected, rel=1e-12)
    assert abs(excluded - not_excluded) > 1e-2


def test_snca_with_memory_equal_to_batch_is_in_batch_nca(dtype, tol):
    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(12, 3, dtype=dtype), dim=1)
    labels = torch.tensor([0, 1, 2] * 4)
    loss = SNCAMemoryBank(num_classes=3, dim=3, num_samples=12, temperature=0.2).to(dtype)
    loss.init_memory(embeddings, labels)
    actual = loss(Batch(embeddings, embeddings, labels, torch.arange(12))).item()
    # Direct in-batch computation: softmax over the other samples of the batch.
    rows = embeddings.double().tolist()
    expected = 0.0
    for i, f in enumerate(rows):
        weights = [
            math.exp(sum(a * b for a, b in zip(f, g, strict=True)) / 0.2) if j != i else 0.0
            for j, g in enumerate(rows)
        ]
        same = sum(
            w for w, y in zip(weights, labels.tolist(), strict=True) if y == labels[i].item()
        )
        expected += -math.log(same / sum(weights))
    expected /= 12
    assert actual == pytest.approx(expected, rel=tol, abs=tol)


def test_snca_with_memory_equal_to_batch_matches_pytorch_metric_learning():
    # pml's NCA uses -||f_i - f_j||^2 * scale = (2 s_ij - 2) * scale; scale 1/(2 sigma) gives s/sigma.
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    torch.manual_seed(1)
    embeddings = torch.nn.functional.normalize(torch.randn(16, 4, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 1, 2, 3] * 4)
    loss = SNCAMemoryBank(num_classes=4, dim=4, num_samples=16, temperature=0.1).double()
    loss.init_memory(embeddings, labels)
    ours = loss(Batch(embeddings, embeddings, labels, torch.arange(16))).item()
    oracle = pml.NCALoss(softmax_scale=1 / (2 * 0.1))(embeddings, labels).item()
    assert ours == pytest.approx(oracle, rel=1e-10)


def test_gradient_is_finite_when_a_sample_has_no_positive():
    loss = loaded(SNCAMemoryBank, torch.float64)
    batch = make_batch(torch.float64)
    batch.embeddings.requires_grad_(True)
    loss(batch).backward()
    assert torch.isfinite(batch.embeddings.grad).all()
    assert batch.embeddings.grad[2].abs().sum() == 0  # the dropped sample
    assert batch.embeddings.grad[0].abs().sum() > 0


@pytest.mark.parametrize(
    ("progress", "alpha"),
    [
        (0.0, 0.5),
        (79 / 130, 0.5),
        (80 / 130, 0.8),
        (119 / 130, 0.8),
        (120 / 130, 0.9),
        (129 / 130, 0.9),
        (7 / 13, 0.5),  # a 13-epoch run: 0.8 from epoch 8 (0-based), 0.9 from epoch 12
        (8 / 13, 0.8),
        (11 / 13, 0.8),
        (12 / 13, 0.9),
    ],
)
def test_memory_bank_momentum_schedule(progress, alpha):
    loss = SNCAMemoryBank(num_classes=3, dim=2, num_samples=6)
    loss.set_progress(progress)
    assert loss.memory_momentum == alpha
    assert loss.stats() == {"memory_momentum": alpha}


@pytest.mark.parametrize("progress", [0.0, 0.7, 0.95])
def test_memory_bank_update_is_renormalised_momentum_average(dtype, tol, progress):
    loss = loaded(SNCAMemoryBank, dtype)
    loss.set_progress(progress)
    alpha = {0.0: 0.5, 0.7: 0.8, 0.95: 0.9}[progress]
    before = loss.memory.clone()
    loss.after_step(make_batch(dtype))
    for slot, angle in zip(BATCH_INDICES, BATCH_ANGLES, strict=True):
        mixed = [
            alpha * m + (1 - alpha) * f
            for m, f in zip(points(MEMORY_ANGLES)[slot], points([angle])[0], strict=True)
        ]
        norm = math.sqrt(sum(x * x for x in mixed))
        assert loss.memory[slot].tolist() == pytest.approx(
            [x / norm for x in mixed], rel=tol, abs=tol
        )
    untouched = [j for j in range(6) if j not in BATCH_INDICES]
    assert torch.equal(loss.memory[untouched], before[untouched])
    assert loss.memory_labels.tolist() == MEMORY_LABELS


def test_momentum_update_replaces_slots(dtype):
    loss = loaded(SNCAMomentum, dtype)
    momentum = torch.tensor(points([1.0, 2.0, -1.0]), dtype=dtype)
    before = loss.memory.clone()
    loss.after_step(make_batch(dtype, momentum=momentum))
    assert torch.equal(loss.memory[BATCH_INDICES], momentum)
    untouched = [0, 2, 3]
    assert torch.equal(loss.memory[untouched], before[untouched])
    with pytest.raises(ValueError, match="Batch.momentum"):
        loss.after_step(make_batch(dtype))


@pytest.mark.parametrize("cls", [SNCACEMemoryBank, SNCACEMomentum])
def test_snca_ce_is_weighted_snca_plus_ce_on_raw(dtype, tol, cls):
    loss = loaded(cls, dtype, temperature=0.1, snca_weight=0.6)
    weight = [[1.0, -0.5], [0.0, 2.0], [-1.0, 0.25]]
    bias = [0.0, 0.5, -0.25]
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        loss.classifier.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    snca = reference_snca(
        points(BATCH_ANGLES), BATCH_LABELS, BATCH_INDICES, points(MEMORY_ANGLES), MEMORY_LABELS, 0.1
    )
    ce = 0.0
    for f, y in zip(points(BATCH_ANGLES), BATCH_LABELS, strict=True):
        raw = [3.0 * x for x in f]  # make_batch's raw vector is 3 f
        logits = [
            sum(w * x for w, x in zip(row, raw, strict=True)) + b
            for row, b in zip(weight, bias, strict=True)
        ]
        ce += math.log(sum(math.exp(z) for z in logits)) - logits[y]
    ce /= len(BATCH_LABELS)
    assert loss(make_batch(dtype)).item() == pytest.approx(0.6 * snca + ce, rel=tol, abs=tol)


def test_random_memory_init_reproduces_released_code_start():
    torch.manual_seed(0)
    loss = SNCAMemoryBank(num_classes=3, dim=12, num_samples=500, memory_init="random")
    labels = torch.randint(0, 3, (500,))
    loss.init_memory(torch.zeros(500, 12), labels)
    bound = math.sqrt(3 / 12)
    assert loss.memory.abs().max() <= bound
    assert loss.memory.abs().max() > 0.9 * bound  # spread over the whole interval
    assert not torch.allclose(loss.memory.norm(dim=1), torch.ones(500))  # not normalised
    assert torch.equal(loss.memory_labels, labels)


def test_memory_must_be_initialised_with_all_samples():
    loss = SNCAMomentum(num_classes=3, dim=2, num_samples=6)
    with pytest.raises(RuntimeError, match="init_memory"):
        loss(make_batch(torch.float32))
    with pytest.raises(ValueError, match="training-set order"):
        loss.init_memory(torch.zeros(5, 2), torch.zeros(5, dtype=torch.long))


def test_memory_survives_a_state_dict_round_trip():
    loss = loaded(SNCAMemoryBank, torch.float64)
    loss.after_step(make_batch(torch.float64))
    restored = SNCAMemoryBank(num_classes=3, dim=2, num_samples=6).double()
    restored.load_state_dict(loss.state_dict())
    batch = make_batch(torch.float64)
    assert restored(batch).item() == loss(batch).item()


def test_invalid_schedule_is_rejected():
    with pytest.raises(ValueError, match="momentum_schedule"):
        SNCAMemoryBank(num_classes=3, dim=2, num_samples=6, momentum_schedule=((0.5, 0.8),))
    with pytest.raises(ValueError, match="memory_init"):
        SNCAMemoryBank(num_classes=3, dim=2, num_samples=6, memory_init="zeros")


def logsumexp_snca(embeddings, labels, indices, memory, memory_labels, sigma, margin):
    """The straightforward torch form: log-sum-exps over rows masked with -inf."""
    logits = embeddings @ memory.t() / sigma
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[torch.arange(len(embeddings)), indices] = True
    positive = (labels[:, None] == memory_labels[None, :]) & ~is_self
    has_positive = positive.any(dim=1)
    logits = torch.where(positive, logits - margin, logits)
    kept = positive | ~has_positive[:, None]
    log_numerator = torch.logsumexp(logits.masked_fill(~kept, -math.inf), dim=1)
    log_denominator = torch.logsumexp(logits.masked_fill(is_self, -math.inf), dim=1)
    log_p = torch.where(has_positive, log_numerator - log_denominator, 0.0)
    return -log_p.sum() / len(embeddings)


def snca_and_gradient(form, raw, labels, indices, memory, memory_labels, sigma, margin):
    leaf = raw.clone().requires_grad_(True)
    embeddings = torch.nn.functional.normalize(leaf, dim=1)
    value = form(embeddings, labels, indices, memory, memory_labels, sigma, margin)
    value.backward()
    return value.detach(), leaf.grad


def random_problem(seed, dtype, unit_memory=True):
    generator = torch.Generator().manual_seed(seed)
    batch, slots, dim = (64, 300, 16) if seed % 2 else (128, 1470, 128)
    memory = torch.randn(slots, dim, generator=generator, dtype=dtype)
    if unit_memory:
        memory = torch.nn.functional.normalize(memory, dim=1)
    memory_labels = torch.randint(21, (slots,), generator=generator)
    indices = torch.randperm(slots, generator=generator)[:batch]
    labels = memory_labels[indices].clone()
    labels[:3] = 99  # samples without positives
    raw = torch.randn(batch, dim, generator=generator, dtype=dtype)
    return raw, labels, indices, memory, memory_labels


@pytest.mark.parametrize("margin", [0.0, 0.2])
@pytest.mark.parametrize("seed", range(4))
def test_snca_gives_the_numbers_of_the_logsumexp_form(dtype, tol, seed, margin):
    """snca_loss sums the exponentials per class (one exp over the logits) and agrees with the
    straightforward masked log-sum-exp form, value and gradient, to float rounding."""
    problem = random_problem(seed, dtype)
    value, grad = snca_and_gradient(snca_loss, *problem, 0.05, margin)
    expected_value, expected_grad = snca_and_gradient(logsumexp_snca, *problem, 0.05, margin)
    assert value.item() == pytest.approx(expected_value.item(), rel=tol, abs=tol)
    assert torch.allclose(grad, expected_grad, rtol=tol, atol=tol * expected_grad.abs().max())


@pytest.mark.parametrize("sigma", [1e-3, 1e-5])
def test_logits_wider_than_one_exponential_can_hold_keep_every_term(sigma):
    """At a tiny temperature (or with an un-normalised memory) a row's logits span more than
    one shared exponential can hold: the loss falls back to per-sum maxima and stays exact
    (the class-sum form would lose the positives to underflow and return inf)."""
    raw, labels, indices, memory, memory_labels = random_problem(1, torch.float32, False)
    value, grad = snca_and_gradient(
        snca_loss, raw, labels, indices, memory, memory_labels, sigma, 0
    )
    expected = snca_and_gradient(
        logsumexp_snca, raw, labels, indices, memory, memory_labels, sigma, 0
    )
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    assert torch.equal(value, expected[0])
    assert torch.equal(grad, expected[1])


def test_labels_outside_the_memory_have_no_positive():
    """A batch label no memory slot holds, and a memory slot with a negative label (a slot not
    filled), count as no positive, as in the masked form."""
    raw, labels, indices, memory, memory_labels = random_problem(3, torch.float64)
    memory_labels = memory_labels.clone()
    memory_labels[::7] = -1
    value, grad = snca_and_gradient(snca_loss, raw, labels, indices, memory, memory_labels, 0.1, 0)
    expected = snca_and_gradient(
        logsumexp_snca, raw, labels, indices, memory, memory_labels, 0.1, 0
    )
    assert value.item() == pytest.approx(expected[0].item(), rel=1e-12)
    assert torch.allclose(grad, expected[1], rtol=1e-10, atol=1e-12)
