"""Normalised softmax (NSL) and its additive-angular-margin version (ArcFace).

Definitions: ``docs/methods.md#nsl`` and ``docs/methods.md#arcface``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from rsdml.losses.base import Batch, PrototypeLoss
from rsdml.losses.registry import register_method


@register_method(
    "nsl",
    title="NSL",
    paper="Zhai & Wu, BMVC 2019",
    family="proxy",
    description="Normalised softmax over learnable class prototypes with temperature tau.",
    formula="L = -1/B sum_i log softmax_c(w_c.f_i / tau)_{y_i}",
)
class NormalizedSoftmaxLoss(PrototypeLoss):
    """Normalised softmax loss over learnable class prototypes.

    Zhai & Wu, "Classification is a Strong Baseline for Deep Metric Learning", BMVC 2019
    (arXiv 1811.12649); the NSL of the Kang et al. papers:

        p_ic = exp(w_c^T f_i / tau) / sum_k exp(w_k^T f_i / tau),   L = -mean_i log p_{i,y_i}

    with f_i the L2-normalised embedding and w_c the L2-normalised prototypes.

    Args:
        num_classes: number of classes C (one prototype each).
        dim: embedding dimension D.
        temperature: tau, default 0.05 (Kang et al. code).
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05) -> None:
        super().__init__(num_classes, dim, temperature)

    def logits(self, batch: Batch) -> Tensor:
        """Logits cos(theta_ic) / tau of the batch, shape (B, C)."""
        return self.cosines(batch.embeddings) / self.temperature

    def forward(self, batch: Batch) -> Tensor:
        """Return the mean normalised-softmax cross-entropy of the batch."""
        return F.cross_entropy(self.logits(batch), batch.labels)


def additive_angular_margin(cosines: Tensor, labels: Tensor, margin: float) -> Tensor:
    """Replace each row's target cosine by the ArcFace value psi; other cosines are unchanged.

    psi = cos(theta + m) when cos(theta) > cos(pi - m) (i.e. theta + m < pi), and otherwise the
    monotone continuation cos(theta) - m sin(m) (the form of the ArcFace
    reference implementations), so that the target logit keeps decreasing in theta.

    Args:
        cosines: (B, C) cosines between L2 embeddings and normalised prototypes.
        labels: (B,) target classes.
        margin: additive angular margin m in radians.

    Returns:
        (B, C) modified cosines (not yet divided by the temperature).
    """
    rows = torch.arange(cosines.shape[0], device=cosines.device)
    target = cosines[rows, labels]
    # clamp keeps sin finite-gradient at |cos| = 1, where sqrt has an infinite slope.
    sine = (1.0 - target * target).clamp_min(torch.finfo(cosines.dtype).eps).sqrt()
    shifted = target * math.cos(margin) - sine * math.sin(margin)
    psi = torch.where(
        target > math.cos(math.pi - margin), shifted, target - margin * math.sin(margin)
    )
    one_hot = F.one_hot(labels, cosines.shape[1]).to(torch.bool)
    return torch.where(one_hot, psi[:, None], cosines)


@register_method(
    "arcface",
    title="ArcFace",
    paper="Deng et al., CVPR 2019",
    family="proxy",
    description="Normalised softmax with an additive angular margin m on the target class.",
    formula="L = -1/B sum_i log e^{psi_i/tau} / (e^{psi_i/tau} + sum_{c!=y_i} e^{cos theta_ic/tau}), psi = cos(theta + m) if cos theta > cos(pi - m) else cos theta - m sin m",
)
class ArcFaceLoss(NormalizedSoftmaxLoss):
    """Normalised softmax with an additive angular margin on the target class (ArcFace).

    Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019;
    also the labelled branch of HR-S2DML:

        L = -mean_i log[ exp(psi_i / tau) / (exp(psi_i / tau) + sum_{c != y_i} exp(cos theta_ic / tau)) ]

    with psi_i given by :func:`additive_angular_margin`.

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        temperature: tau, default 0.05 (HR-S2DML code; ArcFace's scale s = 1 / tau = 20).
        margin: additive angular margin m in radians, default 0.5 (HR-S2DML code and ArcFace).
    """

    def __init__(
        self, num_classes: int, dim: int, temperature: float = 0.05, margin: float = 0.5
    ) -> None:
        super().__init__(num_classes, dim, temperature)
        if not 0.0 <= margin < math.pi:
            raise ValueError(f"margin must lie in [0, pi) radians, got {margin}.")
        self.margin = float(margin)

    def logits(self, batch: Batch) -> Tensor:
        """Margin-modified logits psi / tau at the label and cos / tau elsewhere, shape (B, C)."""
        cosines = self.cosines(batch.embeddings)
        return additive_angular_margin(cosines, batch.labels, self.margin) / self.temperature
