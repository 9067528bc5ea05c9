"""Scalable neighbourhood component analysis (SNCA) against a memory of all training embeddings.

Two ways to keep the memory (Kang et al. 2020):

- MB (memory bank): after each step the batch's own slots become a momentum average,
  m_i <- normalise(alpha m_i + (1 - alpha) f_i), with alpha 0.5, then 0.8 and 0.9 late in the run;
- MU (momentum update): the batch's slots are replaced by the EMA encoder's embeddings f^_i
  (``Batch.momentum``; the engine runs the EMA 0.999 encoder with shuffled batch norm).

SNCA-CE adds a softmax cross-entropy on a Linear(D, C) classifier of the raw vector v.
Definitions and defaults: ``docs/methods.md#snca`` and ``docs/methods.md#snca-ce``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rsdml.losses.base import Batch, MetricLoss, Needs, _check_positive, linear_classifier
from rsdml.losses.registry import KANG_TGRS_SNCA, register_method

SNCA_FORMULA = "p_ij = exp(f_i.m_j/sigma) / sum_{k!=i} exp(f_i.m_k/sigma); L = -1/B sum_i log sum_{j!=i, y_j=y_i} p_ij"

MEMORY_INITS = ("embeddings", "random")
#: (progress fraction from which it applies, alpha): 0.5, then 0.8 from epoch 80 and 0.9 from
#: epoch 120 of 130 (snca.pytorch, reused by the SNCA-CE code), as fractions so short runs scale.
DEFAULT_MOMENTUM_SCHEDULE: tuple[tuple[float, float], ...] = (
    (0.0, 0.5),
    (80 / 130, 0.8),
    (120 / 130, 0.9),
)
# Fractions computed as epoch / total are exact rationals rounded once; the slack only guards
# against a caller computing them another way.
_PROGRESS_SLACK = 1e-9


class _MaskedLogSumExp(torch.autograd.Function):
    """Row-wise log-sum-exp of ``logits`` leaving out the entries where ``excluded`` is True.

    The same numbers, forward and backward, as ``torch.logsumexp`` after
    ``masked_fill(excluded, -inf)``: the same operations in the same order on the same values,
    except that the excluded entries never reach ``exp``. On the CPU ``exp`` of a vector that
    holds -inf takes a slow path, ten times slower, and most entries of SNCA's rows are excluded
    (the two log-sum-exps and their backward took three quarters of a step). Every row must keep
    at least one entry.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, excluded: Tensor) -> Tensor:
        maxes = torch.amax(logits.masked_fill(excluded, -math.inf), dim=1, keepdim=True)
        terms = (logits - maxes).exp_().masked_fill_(excluded, 0.0)
        result = terms.sum(dim=1).log_().add_(maxes.squeeze(1))
        ctx.save_for_backward(logits, excluded, result)
        return result

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        logits, excluded, result = ctx.saved_tensors
        grad_logits = (logits - result[:, None]).exp_().mul_(grad[:, None])
        return grad_logits.masked_fill_(excluded, 0.0), None


class _ClassSumSNCA(torch.autograd.Function):
    """Per-row log p_i of SNCA from one exponential of the logits and per-class sums.

    With E_ij = exp(l_ij - max_j l_ij) (the own slot set to 0), the denominator is the row sum
    of E and the numerator the sum over the row's class, read from E @ onehot(memory labels):
    one exp over the (B, N) logits instead of a masked log-sum-exp each, and a backward of one
    product and one pass (the gradient is E_ij times a factor per row and class of slot j).
    A logit margin on the positives scales their terms by exp(-margin), so it enters as a
    per-class factor too. Equal to the log-sum-exp form up to float rounding (tested).

    The second output says whether every sum stayed far above float underflow (a row whose
    logits span more than exp can hold at once would lose terms); :func:`snca_loss` takes the
    masked log-sum-exp form when it did not.
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: Tensor,
        rows: Tensor,
        indices: Tensor,
        codes: Tensor,
        memory_columns: Tensor,
        columns: int,
        has_positive: Tensor,
        margin: float,
    ) -> tuple[Tensor, Tensor]:
        maxes = torch.amax(logits, dim=1, keepdim=True)
        terms = (logits - maxes).exp_()
        terms[rows, indices] = 0.0
        onehot = F.one_hot(memory_columns, columns).to(terms.dtype)
        class_sums = terms @ onehot  # (B, classes)
        scale = math.exp(-margin)
        positive_sum = class_sums.gather(1, codes[:, None]).squeeze(1)
        numerator = torch.where(has_positive, positive_sum * scale, torch.ones_like(positive_sum))
        denominator = class_sums.sum(dim=1) - positive_sum * (1.0 - scale)
        # Terms lost to underflow are each below float's smallest normal, fewer than N of them:
        # against sums above this floor they change nothing that float arithmetic could show.
        floor = torch.finfo(terms.dtype).tiny * terms.shape[1] / torch.finfo(terms.dtype).eps
        safe = (numerator.amin() > floor) & (denominator.amin() > floor)
        ctx.save_for_backward(terms, memory_columns, codes, has_positive, numerator, denominator)
        ctx.scale, ctx.columns = scale, columns
        ctx.mark_non_differentiable(safe)
        result = numerator.log() - denominator.log()
        return torch.where(has_positive, result, torch.zeros_like(result)), safe

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _safe_grad: Tensor) -> tuple[Tensor | None, ...]:
        terms, memory_columns, codes, has_positive, numerator, denominator = ctx.saved_tensors
        grad = torch.where(has_positive, grad, torch.zeros_like(grad))
        # d log p_i / d l_ij = E'_ij [y_j = y_i] / num_i - E'_ij / den_i, with E' = E scaled
        # by exp(-margin) on the positives: E_ij times a factor of row i and j's class.
        factors = (-grad / denominator)[:, None].expand(-1, ctx.columns).contiguous()
        positive_factor = ctx.scale * grad * (1.0 / numerator - 1.0 / denominator)
        own = factors.gather(1, codes[:, None]).squeeze(1)
        factors.scatter_(
            1, codes[:, None], torch.where(has_positive, positive_factor, own)[:, None]
        )
        per_slot = torch.index_select(factors, 1, memory_columns)  # (B, N): slot j's class
        return terms.mul_(per_slot), None, None, None, None, None, None, None


def _class_columns(labels: Tensor, memory_labels: Tensor) -> tuple[Tensor, Tensor, int]:
    """Class columns of the batch and of the memory for :class:`_ClassSumSNCA`.

    Memory labels >= 0 keep their value; a negative memory label goes to column C, and a batch
    label that no memory slot has to column C + 1 (C = largest memory label + 1), which no slot
    is in. Returns the batch's columns, the memory's and their count, C + 2.
    """
    top = int(memory_labels.max()) + 1 if memory_labels.numel() else 0
    memory_columns = torch.where(memory_labels >= 0, memory_labels, top)
    codes = torch.where((labels >= 0) & (labels < top), labels, top + 1)
    return codes, memory_columns, top + 2


def snca_loss(
    embeddings: Tensor,
    labels: Tensor,
    indices: Tensor,
    memory: Tensor,
    memory_labels: Tensor,
    temperature: float,
    margin: float = 0.0,
) -> Tensor:
    """SNCA of a batch against a memory, with the batch's own slots excluded.

    p_ij = exp(f_i^T m_j / sigma) / sum_{k != i} exp(f_i^T m_k / sigma),
    p_i = sum_{j != i, y_j = y_i} p_ij,   L = -(1/B) sum_i log p_i.

    With a margin the positive logits are lowered by ``margin`` (in logit units, i.e. a cosine
    margin of margin * sigma), as in the SNCA reference implementation. A sample with no
    same-class slot other than its own has p_i = 0; like the reference code we drop it from the
    sum but keep dividing by B.

    Args:
        embeddings: (B, D) L2-normalised embeddings f.
        labels: (B,) their labels.
        indices: (B,) their memory slots (training-set positions).
        memory: (N, D) memory rows m_j.
        memory_labels: (N,) labels of the memory rows.
        temperature: sigma.
        margin: logit margin on the positives (default 0).
    """
    logits = (embeddings @ memory.t()).div_(temperature)
    rows = torch.arange(embeddings.shape[0], device=embeddings.device)
    codes, memory_columns, columns = _class_columns(labels, memory_labels)
    with torch.no_grad():
        slots_per_class = torch.bincount(memory_columns, minlength=columns)
        own_is_positive = memory_columns[indices] == codes
        has_positive = slots_per_class[codes] - own_is_positive.long() > 0
    log_p, safe = _ClassSumSNCA.apply(
        logits, rows, indices, codes, memory_columns, columns, has_positive, float(margin)
    )
    if not bool(safe):
        log_p = _masked_snca(logits, rows, labels, indices, memory_labels, margin)
    return -log_p.sum() / embeddings.shape[0]


def _masked_snca(
    logits: Tensor,
    rows: Tensor,
    labels: Tensor,
    indices: Tensor,
    memory_labels: Tensor,
    margin: float,
) -> Tensor:
    """Per-row log p_i by two masked log-sum-exps, each with its own maximum: for batches whose
    logits span more than one exp can hold (tiny temperatures, un-normalised memories)."""
    is_self = torch.zeros_like(logits, dtype=torch.bool)
    is_self[rows, indices] = True
    positive = labels[:, None] == memory_labels[None, :]
    positive[rows, indices] = False
    # any() of a boolean row is slow on the CPU; the row's largest byte says the same
    has_positive = positive.view(torch.uint8).amax(dim=1).bool()
    if margin:
        logits = torch.where(positive, logits - margin, logits)
    # Rows without positives keep every entry in the numerator, so that no row of it is empty;
    # their term is zeroed below.
    log_numerator = _MaskedLogSumExp.apply(logits, ~positive & has_positive[:, None])
    log_denominator = _MaskedLogSumExp.apply(logits, is_self)
    return torch.where(
        has_positive, log_numerator - log_denominator, torch.zeros_like(log_numerator)
    )


class SNCALoss(MetricLoss):
    """Base of the SNCA losses: the memory, its labels and the SNCA term (and optional CE).

    Wu, Efros & Yu, "Improving Generalization via Scalable Neighborhood Component Analysis",
    ECCV 2018; Kang et al., "Deep Metric Learning Based on Scalable Neighborhood Components for
    Remote Sensing Scene Characterization", IEEE TGRS 58(12), 2020. Subclasses
    choose the memory update; the CE variants set ``with_classifier``.

    Args:
        num_classes: number of classes C (used by the CE classifier).
        dim: embedding dimension D.
        num_samples: training-set size N (one memory slot each).
        temperature: sigma, default 0.05 (code).
        margin: logit margin on the positives, default 0 (code).
        memory_init: ``"embeddings"`` (default): the memory starts as the embeddings the engine
            passes to :meth:`init_memory` (the initial model's); ``"random"``: uniform in
            [-sqrt(3/D), sqrt(3/D)], not normalised, reproducing the released code's start.
    """

    needs = Needs(memory=True)
    with_classifier: ClassVar[bool] = False

    def __init__(
        self,
        num_classes: int,
        dim: int,
        num_samples: int,
        temperature: float = 0.05,
        margin: float = 0.0,
        memory_init: str = "embeddings",
    ) -> None:
        super().__init__()
        _check_positive(num_classes=num_classes, dim=dim, num_samples=num_samples)
        _check_positive(temperature=temperature)
        if memory_init not in MEMORY_INITS:
            raise ValueError(f"memory_init must be one of {MEMORY_INITS}, got {memory_init!r}.")
        self.num_classes = num_classes
        self.dim = dim
        self.num_samples = num_samples
        self.temperature = float(temperature)
        self.margin = float(margin)
        self.memory_init = memory_init
        # lambda of the CE variants; the plain SNCA losses keep 1 (a weight there is only a
        # learning-rate change).
        self.snca_weight = 1.0
        self.register_buffer("memory", torch.zeros(num_samples, dim))
        self.register_buffer("memory_labels", torch.full((num_samples,), -1, dtype=torch.long))
        self.register_buffer("memory_ready", torch.zeros((), dtype=torch.bool))
        if self.with_classifier:
            self.classifier = linear_classifier(dim, num_classes)

    @torch.no_grad()
    def init_memory(self, embeddings: Tensor, labels: Tensor) -> None:
        """Fill the memory from all N train embeddings (training order) and store their labels."""
        if embeddings.shape != (self.num_samples, self.dim) or labels.shape != (self.num_samples,):
            raise ValueError(
                f"init_memory needs ({self.num_samples}, {self.dim}) embeddings and "
                f"({self.num_samples},) labels in training-set order; got "
                f"{tuple(embeddings.shape)} and {tuple(labels.shape)}."
            )
        if self.memory_init == "random":
            bound = math.sqrt(3.0 / self.dim)
            self.memory.uniform_(-bound, bound)
        else:
            self.memory.copy_(embeddings)
        self.memory_labels.copy_(labels)
        self.memory_ready.fill_(True)

    def forward(self, batch: Batch) -> Tensor:
        """Return lambda * SNCA(f; memory) (+ CE(classifier(v)) for the CE variants)."""
        if not bool(self.memory_ready):
            raise RuntimeError(
                f"{type(self).__name__} has an empty memory: call init_memory(train embeddings, "
                "train labels) before the first step (the engine does so for 'memory' losses)."
            )
        loss = self.snca_weight * snca_loss(
            batch.embeddings,
            batch.labels,
            batch.indices,
            self.memory,
            self.memory_labels,
            self.temperature,
            self.margin,
        )
        if self.with_classifier:
            loss = loss + F.cross_entropy(self.classifier(batch.raw), batch.labels)
        return loss


@register_method(
    "snca_mb",
    title="SNCA (MB)",
    paper="Wu et al., ECCV 2018; " + KANG_TGRS_SNCA,
    family="memory",
    description="Neighbourhood components against a momentum-averaged memory bank of all samples.",
    formula=SNCA_FORMULA + "; m_i <- normalise(alpha m_i + (1 - alpha) f_i)",
)
class SNCAMemoryBank(SNCALoss):
    """SNCA with a memory bank (MB): each slot is a momentum average of its sample's embeddings.

    After every step, m_i <- normalise(alpha m_i + (1 - alpha) f_i) for the batch's slots, with
    f_i the (detached) embeddings of that step. alpha follows ``momentum_schedule``: a tuple of
    (progress fraction, alpha) pairs; the last pair whose fraction is <= the progress given to
    :meth:`set_progress` applies. The default is the paper's 0.5, then 0.8 from epoch 80 and 0.9
    from epoch 120 of 130, as fractions 80/130 and 120/130 so that short runs scale.

    Args: as :class:`SNCALoss`, plus
        momentum_schedule: ((fraction, alpha), ...) in increasing fraction order, starting at 0.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        num_samples: int,
        temperature: float = 0.05,
        margin: float = 0.0,
        memory_init: str = "embeddings",
        momentum_schedule: tuple[tuple[float, float], ...] = DEFAULT_MOMENTUM_SCHEDULE,
    ) -> None:
        super().__init__(num_classes, dim, num_samples, temperature, margin, memory_init)
        schedule = tuple((float(start), float(alpha)) for start, alpha in momentum_schedule)
        starts = [start for start, _ in schedule]
        if not schedule or starts[0] != 0.0 or starts != sorted(starts):
            raise ValueError(
                "momentum_schedule must be ((0.0, alpha0), (fraction1, alpha1), ...) with "
                f"increasing fractions; got {momentum_schedule!r}."
            )
        if not all(0.0 <= alpha < 1.0 for _, alpha in schedule):
            raise ValueError(f"memory momenta must lie in [0, 1), got {momentum_schedule!r}.")
        self.momentum_schedule = schedule

    @property
    def memory_momentum(self) -> float:
        """alpha at the current progress."""
        alpha = self.momentum_schedule[0][1]
        for start, value in self.momentum_schedule:
            if self.progress + _PROGRESS_SLACK >= start:
                alpha = value
        return alpha

    @torch.no_grad()
    def after_step(self, batch: Batch) -> None:
        """m_i <- normalise(alpha m_i + (1 - alpha) f_i) for the batch's slots."""
        alpha = self.memory_momentum
        slots = self.memory[batch.indices]
        mixed = alpha * slots + (1.0 - alpha) * batch.embeddings.detach().to(slots)
        self.memory[batch.indices] = F.normalize(mixed, dim=1)

    def stats(self) -> dict[str, float]:
        """The current memory momentum alpha."""
        return {"memory_momentum": self.memory_momentum}


@register_method(
    "snca_mu",
    title="SNCA (MU)",
    paper=KANG_TGRS_SNCA,
    family="memory",
    description="Neighbourhood components against a memory refreshed by an EMA encoder.",
    formula=SNCA_FORMULA + "; m_i <- f^_i (EMA encoder)",
)
class SNCAMomentum(SNCALoss):
    """SNCA with momentum update (MU): the batch's slots take the EMA encoder's embeddings.

    After every step m_i <- f^_i for the batch's slots, with f^ = ``Batch.momentum`` (the
    L2-normalised output of the EMA 0.999 encoder run with shuffled batch norm, computed by the
    engine; hook "momentum_encoder"). There is no memory momentum; the gradient flows only
    through the online embeddings f.

    Args: as :class:`SNCALoss`.
    """

    needs = Needs(memory=True, momentum_encoder=True)

    @torch.no_grad()
    def after_step(self, batch: Batch) -> None:
        """m_i <- f^_i (``batch.momentum``) for the batch's slots."""
        if batch.momentum is None:
            raise ValueError(
                f"{type(self).__name__} replaces memory slots with the EMA encoder's embeddings; "
                "pass them as Batch.momentum (the engine does so for 'momentum_encoder' losses)."
            )
        self.memory[batch.indices] = batch.momentum.detach().to(self.memory)


def _check_snca_weight(snca_weight: float) -> float:
    """Validate lambda of the CE variants."""
    if snca_weight < 0:
        raise ValueError(f"snca_weight must be >= 0, got {snca_weight}.")
    return float(snca_weight)


@register_method(
    "snca_ce_mb",
    title="SNCA-CE (MB)",
    paper=KANG_TGRS_SNCA,
    family="memory",
    description="lambda x SNCA on a memory bank plus cross-entropy of a classifier on v.",
    formula="L = lambda L_SNCA(f; M) + CE(U v + b);  " + SNCA_FORMULA,
)
class SNCACEMemoryBank(SNCAMemoryBank):
    """SNCA-CE with a memory bank: lambda * SNCA(f; MB memory) + CE(Linear(D, C)(v)).

    Kang et al., IEEE TGRS 58(12), 2020. The classifier acts on the un-normalised vector v
    (``Batch.raw``), as in the released code, and is owned by the loss.

    Args: as :class:`SNCAMemoryBank`, plus
        snca_weight: lambda, the weight of the SNCA term, default 1 (code).
    """

    with_classifier: ClassVar[bool] = True

    def __init__(
        self,
        num_classes: int,
        dim: int,
        num_samples: int,
        temperature: float = 0.05,
        margin: float = 0.0,
        memory_init: str = "embeddings",
        momentum_schedule: tuple[tuple[float, float], ...] = DEFAULT_MOMENTUM_SCHEDULE,
        snca_weight: float = 1.0,
    ) -> None:
        super().__init__(
            num_classes, dim, num_samples, temperature, margin, memory_init, momentum_schedule
        )
        self.snca_weight = _check_snca_weight(snca_weight)


@register_method(
    "snca_ce_mu",
    title="SNCA-CE (MU)",
    paper=KANG_TGRS_SNCA,
    family="memory",
    description="lambda x SNCA on an EMA-encoder memory plus cross-entropy of a classifier on v.",
    formula="L = lambda L_SNCA(f; M) + CE(U v + b);  " + SNCA_FORMULA,
)
class SNCACEMomentum(SNCAMomentum):
    """SNCA-CE with momentum update: lambda * SNCA(f; MU memory) + CE(Linear(D, C)(v)).

    Kang et al., IEEE TGRS 58(12), 2020 (the MU script fixes lambda = 1).

    Args: as :class:`SNCAMomentum`, plus
        snca_weight: lambda, the weight of the SNCA term, default 1.
    """

    with_classifier: ClassVar[bool] = True

    def __init__(
        self,
        num_classes: int,
        dim: int,
        num_samples: int,
        temperature: float = 0.05,
        margin: float = 0.0,
        memory_init: str = "embeddings",
        snca_weight: float = 1.0,
    ) -> None:
        super().__init__(num_classes, dim, num_samples, temperature, margin, memory_init)
        self.snca_weight = _check_snca_weight(snca_weight)
