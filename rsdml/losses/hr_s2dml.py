"""HR-S2DML: normalised softmax with margin plus a high-rankness (BNM) term on unlabelled data.

Definition, defaults and the released code's options: ``docs/methods.md#hr-s2dml``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from rsdml.losses.base import Batch, Needs
from rsdml.losses.nsl import ArcFaceLoss, additive_angular_margin
from rsdml.losses.registry import register_method

NUCLEAR_NORM_SCALES = ("batch", "min")


def high_rankness(probabilities: Tensor, scale: str = "batch") -> Tensor:
    """Return L_HR = -||P||_* / n for a (B, C) probability matrix P.

    Args:
        probabilities: P, one softmax row per unlabelled sample.
        scale: ``"batch"`` divides by B, as the BNM paper (Cui et al., CVPR 2020) does;
            ``"min"`` divides by min(B, C), i.e. the mean singular value, as the released
            HR-S2DML code does.
    """
    if scale not in NUCLEAR_NORM_SCALES:
        raise ValueError(f"scale must be one of {NUCLEAR_NORM_SCALES}, got {scale!r}.")
    nuclear_norm = torch.linalg.svdvals(probabilities).sum()
    rows, columns = probabilities.shape
    return -nuclear_norm / (rows if scale == "batch" else min(rows, columns))


@register_method(
    "hr_s2dml",
    title="HR-S2DML",
    paper="Kang et al., Remote Sens. 12(16), 2603, 2020",
    family="semi-supervised",
    description="ArcFace-style NSL on labelled data plus batch nuclear-norm maximisation on unlabelled data.",
    formula="L = L_ArcFace + lambda (-||P||_* / B),  P_ic = softmax_c(w_c.f^u_i / tau)",
)
class HRS2DMLLoss(ArcFaceLoss):
    """High-rankness regularised semi-supervised deep metric learning (HR-S2DML).

    Kang et al., "High-Rankness Regularized Semi-Supervised Deep Metric Learning for Remote
    Sensing Imagery", Remote Sensing 12(16), 2603, 2020:

        L = L_M(labelled batch) + lambda * L_HR(unlabelled batch),
        L_HR = -||P||_* / B,   P_ic = softmax_c(cos(f_i^u, w_c) / tau)

    L_M is the normalised softmax with additive angular margin (:class:`ArcFaceLoss`). The
    nuclear norm of the batch prediction matrix is the convex surrogate of its rank: maximising it
    makes the unlabelled predictions both confident and spread over many classes (BNM, Cui et al.,
    CVPR 2020). The unlabelled embeddings arrive as ``Batch.unlabelled`` (hook "unlabelled").

    Our defaults fix two leaks of the released code: no true label enters the unlabelled branch,
    and the temperature is applied in its softmax. Options reproduce the code for comparison:
    ``bnm_temperature=False`` (softmax of raw cosines),
    ``leak_labels=True`` (the margin applied at ``Batch.unlabelled_labels`` before the softmax),
    ``nuclear_norm_scale="min"`` (divide by min(B, C)).

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        temperature: tau of both softmaxes, default 0.05 (code).
        margin: additive angular margin m in radians, default 0.5 (code).
        hr_weight: lambda, the weight of the high-rankness term, default 1 (hard-coded in code);
            0 gives the NSL-with-margin baseline.
        nuclear_norm_scale: ``"batch"`` (default, BNM paper) or ``"min"`` (released code).
        bnm_temperature: divide the unlabelled cosines by tau before the softmax (default True;
            False reproduces the code).
        leak_labels: apply the angular margin at the true labels of the unlabelled batch
            (default False; True reproduces the code and needs ``Batch.unlabelled_labels``).
    """

    needs = Needs(unlabelled=True)

    def __init__(
        self,
        num_classes: int,
        dim: int,
        temperature: float = 0.05,
        margin: float = 0.5,
        hr_weight: float = 1.0,
        nuclear_norm_scale: str = "batch",
        bnm_temperature: bool = True,
        leak_labels: bool = False,
    ) -> None:
        super().__init__(num_classes, dim, temperature, margin)
        if nuclear_norm_scale not in NUCLEAR_NORM_SCALES:
            raise ValueError(
                f"nuclear_norm_scale must be one of {NUCLEAR_NORM_SCALES}, got {nuclear_norm_scale!r}."
            )
        if hr_weight < 0:
            raise ValueError(f"hr_weight must be >= 0, got {hr_weight}.")
        self.hr_weight = float(hr_weight)
        self.nuclear_norm_scale = nuclear_norm_scale
        self.bnm_temperature = bool(bnm_temperature)
        self.leak_labels = bool(leak_labels)
        self.needs = dataclasses.replace(self.needs, unlabelled_labels=self.leak_labels)
        self._last_hr: Tensor | None = None

    def regulariser_probabilities(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """The matrix P (Bu, C) that enters the high-rankness term, with this loss's options.

        Args:
            embeddings: L2-normalised unlabelled embeddings.
            labels: their true labels; read only when ``leak_labels`` is set.
        """
        cosines = self.cosines(embeddings)
        if self.leak_labels:
            if labels is None:
                raise ValueError(
                    "leak_labels=True reproduces the released code's use of the unlabelled "
                    "batch's true labels; pass them as Batch.unlabelled_labels."
                )
            cosines = additive_angular_margin(cosines, labels, self.margin)
        if self.bnm_temperature:
            cosines = cosines / self.temperature
        return torch.softmax(cosines, dim=1)

    def forward(self, batch: Batch) -> Tensor:
        """Return L_M on the labelled batch plus lambda * L_HR on ``batch.unlabelled``."""
        labelled = super().forward(batch)
        if self.hr_weight == 0:
            return labelled
        if batch.unlabelled is None:
            raise ValueError(
                "hr_s2dml needs an unlabelled batch (Batch.unlabelled); the engine provides it "
                "for losses with the 'unlabelled' hook. Set hr_weight=0 for the labelled-only loss."
            )
        probabilities = self.regulariser_probabilities(batch.unlabelled, batch.unlabelled_labels)
        hr = high_rankness(probabilities, self.nuclear_norm_scale)
        self._last_hr = hr.detach()
        return labelled + self.hr_weight * hr

    def stats(self) -> dict[str, float]:
        """The last high-rankness term L_HR (minus the scaled nuclear norm of P)."""
        return {} if self._last_hr is None else {"hr_term": float(self._last_hr)}
