"""Robust normalised softmax (RNSL) and its truncated, sample-pruning version (t-RNSL).

Definitions, defaults and the pruning schedules: ``docs/methods.md#rnsl`` and
``docs/methods.md#t-rnsl``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from rsdml.losses.base import (
    PRUNING_RESUMES,
    Batch,
    MetricLoss,
    Needs,
    PrototypeLoss,
    _check_positive,
)
from rsdml.losses.registry import KANG_TGRS_RNSL, register_method


def box_cox(probability: Tensor | float, q: float) -> Tensor | float:
    """The generalised cross-entropy L_q(p) = (1 - p^q) / q (Zhang & Sabuncu, NeurIPS 2018)."""
    return (1.0 - probability**q) / q


def truncated_box_cox(probability: Tensor, q: float, k: float) -> Tensor:
    """Per-sample truncated L_q: L_q(k) where p <= k, else L_q(p) (the RNSL paper's t-RNSL).

    This is the loss t-RNSL stands for. Its code form (:class:`TruncatedRNSL`) differs from it by
    the constant L_q(k) once the pruning weights agree with the current probabilities:
    w_i [L_q(p_i) - L_q(k)] = truncated_box_cox(p_i) - L_q(k) with w_i = 1[p_i > k].
    """
    return torch.where(
        probability > k, box_cox(probability, q), torch.full_like(probability, box_cox(k, q))
    )


@register_method(
    "rnsl",
    title="RNSL",
    paper=KANG_TGRS_RNSL,
    family="robust",
    description="Box-Cox (generalised cross-entropy) loss on the normalised-softmax probability.",
    formula="L = 1/B sum_i (1 - p_{i,y_i}^q) / q",
)
class RobustNormalizedSoftmaxLoss(PrototypeLoss):
    """Robust normalised softmax loss (RNSL): the GCE / Box-Cox loss on the NSL probability.

    Kang et al., "Robust Normalized Softmax Loss for Deep Metric Learning-based Characterization
    of Remote Sensing Images with Label Noise", IEEE TGRS 2021 (DOI 10.1109/TGRS.2020.3042607),
    after Zhang & Sabuncu's generalised cross-entropy (NeurIPS 2018):

        L = mean_i (1 - p_{i,y_i}^q) / q,   p_ic = softmax_c(w_c^T f_i / tau)

    It tends to NSL (-log p) as q -> 0 and equals 1 - p (MAE-like) at q = 1; its gradient is the
    NSL gradient scaled by p^q, so low-confidence (likely mislabelled) samples pull the
    prototypes less.

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        temperature: tau, default 0.05 (RNSL code).
        q: Box-Cox exponent in (0, 1], default 0.7 (RNSL code, GCE paper).
    """

    def __init__(
        self, num_classes: int, dim: int, temperature: float = 0.05, q: float = 0.7
    ) -> None:
        super().__init__(num_classes, dim, temperature)
        _check_positive(q=q)
        self.q = float(q)

    def target_probabilities(self, batch: Batch) -> Tensor:
        """p_{i,y_i} for the batch, shape (B,)."""
        log_p = torch.log_softmax(self.cosines(batch.embeddings) / self.temperature, dim=1)
        # exp of the log-softmax keeps p^q accurate for tiny p.
        return log_p.gather(1, batch.labels[:, None]).squeeze(1).exp()

    def per_sample(self, batch: Batch) -> Tensor:
        """Per-sample losses L_q(p_{i,y_i}), shape (B,)."""
        return box_cox(self.target_probabilities(batch), self.q)

    def forward(self, batch: Batch) -> Tensor:
        """Return the batch mean of (1 - p^q) / q."""
        return self.per_sample(batch).mean()


@register_method(
    "trnsl",
    title="t-RNSL",
    paper=KANG_TGRS_RNSL,
    family="robust",
    description="Truncated RNSL: samples with p_y <= k are pruned at scheduled epochs.",
    formula="L = 1/B sum_i w_i [L_q(p_{i,y_i}) - L_q(k)],  w_i = 1[p_{i,y_i} > k] at pruning",
)
class TruncatedRNSL(RobustNormalizedSoftmaxLoss):
    """Truncated RNSL (t-RNSL): RNSL with samples of low label probability pruned.

    Kang et al., IEEE TGRS 2021 (as :class:`RobustNormalizedSoftmaxLoss`); the truncated L_q and
    its pruning optimisation are from Zhang & Sabuncu, NeurIPS 2018. The loss is the code form

        L = mean_{i in batch} w_i [L_q(p_{i,y_i}) - L_q(k)],   w_i in {0, 1}, initially 1,

    so it starts as RNSL minus a constant. Hook "pruning": at the scheduled epochs
    (:meth:`pruning_due`) the engine embeds all N training images with the validation-selected
    model and calls :meth:`update_pruning`, which sets w_i = 1[p_{i,y_i} > k]. With weights that
    agree with the current probabilities this equals the per-sample truncated loss
    :func:`truncated_box_cox` minus L_q(k): a constant L_q(k) below k, RNSL above it.

    Schedule: the paper prunes from epoch 40 of 130 and every 10 epochs after. Here it is
    expressed as fractions of the run, so a short run scales: pruning is due at the 1-based epochs
    e >= round(prune_start * T) with (e - start) divisible by max(1, round(prune_every * T)).

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        num_samples: training-set size N (one weight per sample, keyed by ``Batch.indices``).
        temperature: tau, default 0.05.
        q: Box-Cox exponent, default 0.7.
        k: truncation threshold on p_{i,y_i}, default 0.5 (RNSL and GCE code).
        prune_start: first pruning epoch as a fraction of the run, default 40/130.
        prune_every: pruning period as a fraction of the run, default 10/130.
        resume: what training continues from after a pruning step. ``"current"`` (default, the
            released code): the current weights. ``"selected"``: the validation-selected weights
            that made the pruning decision, with the optimiser's momentum cleared. A head on
            frozen features memorises noisy labels within about ten epochs, long before the
            first pruning, and the kept samples then give it no gradient to unlearn them
            (measured on UC Merced, uniform noise 0.5, in the README).

    Frozen-backbone training overrides the schedule defaults (earlier, sparser pruning that
    resumes from the selected weights): see ``rsdml.train.config.FROZEN_LOSS_DEFAULTS`` and
    ``docs/methods.md#t-rnsl``.
    """

    needs = Needs(pruning=True)

    def __init__(
        self,
        num_classes: int,
        dim: int,
        num_samples: int,
        temperature: float = 0.05,
        q: float = 0.7,
        k: float = 0.5,
        prune_start: float = 40 / 130,
        prune_every: float = 10 / 130,
        resume: str = "current",
    ) -> None:
        super().__init__(num_classes, dim, temperature, q)
        _check_positive(num_samples=num_samples, prune_every=prune_every)
        if not 0.0 < k < 1.0:
            raise ValueError(f"k must lie in (0, 1), got {k}.")
        if not 0.0 <= prune_start <= 1.0:
            raise ValueError(f"prune_start is a fraction of the run in [0, 1], got {prune_start}.")
        if resume not in PRUNING_RESUMES:
            raise ValueError(f"resume must be one of {PRUNING_RESUMES}, got {resume!r}.")
        self.resume = resume
        self.needs = dataclasses.replace(self.needs, pruning_resume=resume)
        self.num_samples = num_samples
        self.k = float(k)
        self.prune_start = float(prune_start)
        self.prune_every = float(prune_every)
        self.register_buffer("weights", torch.ones(num_samples))

    def forward(self, batch: Batch) -> Tensor:
        """Return mean_i w_i [L_q(p_i) - L_q(k)] over the batch."""
        weights = self.weights[batch.indices].to(batch.embeddings.dtype)
        return (weights * (self.per_sample(batch) - box_cox(self.k, self.q))).mean()

    def pruning_due(self, epoch: int, total_epochs: int) -> bool:
        """Whether to prune before training ``epoch`` (1-based) of ``total_epochs``.

        With 130 epochs this is true at 40, 50, ..., 130, like the released code, which prunes
        at the start of those epochs (after 39, 49, ... completed ones).
        """
        if epoch < 1 or total_epochs < 1:
            raise ValueError(
                f"epoch and total_epochs are 1-based counts, got {epoch}, {total_epochs}."
            )
        start, period = self.pruning_schedule(total_epochs)
        return epoch >= start and (epoch - start) % period == 0

    def pruning_schedule(self, total_epochs: int) -> tuple[int, int]:
        """(first pruning epoch, period) in epochs for a run of ``total_epochs``.

        Pruning needs a trained, validation-selected model, so it never happens before epoch 2.
        """
        start = max(2, round(self.prune_start * total_epochs))
        period = max(1, round(self.prune_every * total_epochs))
        return start, period

    @torch.no_grad()
    def update_pruning(self, embeddings: Tensor, labels: Tensor) -> None:
        """Set w_i = 1[p_{i,y_i} > k] from all N train embeddings (train order) and labels.

        The engine computes ``embeddings`` with the validation-selected model and passes the
        training labels the model is trained on (the noisy ones), never test labels.
        """
        if embeddings.shape[0] != self.num_samples or labels.shape[0] != self.num_samples:
            raise ValueError(
                f"update_pruning needs all {self.num_samples} training samples in training-set "
                f"order; got {embeddings.shape[0]} embeddings and {labels.shape[0]} labels."
            )
        probabilities = self.class_probabilities(embeddings.to(self.prototypes))
        target = probabilities.gather(1, labels.to(probabilities.device)[:, None]).squeeze(1)
        self.weights.copy_((target > self.k).to(self.weights.dtype))

    @torch.no_grad()
    def copy_pruning_from(self, other: MetricLoss) -> None:
        """Adopt ``other``'s kept-sample weights (computed with the selected model)."""
        self.weights.copy_(other.weights)

    def stats(self) -> dict[str, float]:
        """The fraction of training samples currently kept (w_i = 1)."""
        return {"kept_fraction": float(self.weights.mean())}
