"""Classification baselines: softmax cross-entropy (CE) and mean absolute error (MAE).

Definitions: ``docs/methods.md#ce`` and ``docs/methods.md#mae``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from rsdml.losses.base import Batch, MetricLoss, PrototypeLoss, _check_positive, linear_classifier
from rsdml.losses.registry import KANG_TGRS_RNSL, register_method


@register_method(
    "ce",
    title="Softmax cross-entropy",
    paper="standard classification baseline",
    family="classifier",
    description="Softmax cross-entropy of a linear classifier on the raw embedding v.",
    formula="L = -1/B sum_i log softmax(U v_i + b)_{y_i}",
)
class SoftmaxCrossEntropyLoss(MetricLoss):
    """Softmax cross-entropy of a linear classifier on the raw vector v.

    The plain classification baseline: logits = U v + b with a Linear(D, C) owned by the loss,
    L = -mean_i log softmax(U v_i + b)_{y_i}. The embedding used for retrieval is still the
    L2-normalised f = v / ||v||. This is the CE term of SNCA-CE on its own.

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        _check_positive(num_classes=num_classes, dim=dim)
        self.classifier = linear_classifier(dim, num_classes)

    def forward(self, batch: Batch) -> Tensor:
        """Return the mean cross-entropy of the classifier's logits on ``batch.raw``."""
        return F.cross_entropy(self.classifier(batch.raw), batch.labels)


@register_method(
    "mae",
    title="MAE",
    paper="Ghosh et al., AAAI 2017; baseline of " + KANG_TGRS_RNSL,
    family="robust",
    description="Mean absolute error of the prototype softmax, the q = 1 limit of RNSL.",
    formula="L = 1/B sum_i (1 - p_{i,y_i}),  p_ic = softmax_c(w_c.f_i / tau)",
)
class MeanAbsoluteErrorLoss(PrototypeLoss):
    """Mean absolute error between the normalised-softmax prediction and the one-hot label.

    The MAE baseline of the RNSL paper (Kang et al., IEEE TGRS 2021), built like RNSL so that it is
    exactly its q = 1 limit: the same normalised prototypes and temperature,

        L = mean_i (1 - p_{i,y_i}),   p_ic = softmax_c(w_c^T f_i / tau).

    The L1 distance ||p_i - e_{y_i}||_1 equals 2 (1 - p_{i,y_i}) (Ghosh et al., AAAI 2017;
    Zhang & Sabuncu, NeurIPS 2018); we use half of it, which only rescales the learning rate and
    makes ``mae`` identical to ``rnsl`` with q = 1. MAE is robust to symmetric label noise but
    trains slowly, which is why it is the robust end of the RNSL family.

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        temperature: tau, default 0.05 (as RNSL).
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05) -> None:
        super().__init__(num_classes, dim, temperature)

    def forward(self, batch: Batch) -> Tensor:
        """Return mean_i (1 - p_{i,y_i})."""
        probabilities = self.class_probabilities(batch.embeddings)
        target = probabilities.gather(1, batch.labels[:, None]).squeeze(1)
        return (1.0 - target).mean()
