"""D-CNN: the contrastive hinge (metric-learning regularisation) of Cheng et al., TGRS 2018.

Definition and defaults: ``docs/methods.md#d-cnn``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rsdml.losses.base import (
    Batch,
    MetricLoss,
    Needs,
    _check_positive,
    euclidean_distances,
    linear_classifier,
    same_label_masks,
)
from rsdml.losses.registry import register_method


@register_method(
    "dcnn",
    title="D-CNN",
    paper="Cheng et al., IEEE TGRS 56(5), 2018",
    family="pair",
    description="Contrastive hinge: positive pairs below tau - beta, negatives beyond tau + beta.",
    formula="L = mean_pos [d^2 - (tau - beta)]_+ + mean_neg [(tau + beta) - d^2]_+",
)
class DCNNContrastiveLoss(MetricLoss):
    """Contrastive hinge loss of D-CNN on squared Euclidean distances of L2 embeddings.

    Cheng, Yang, Yao, Guo & Han, "When Deep Learning Meets Metric Learning: Remote Sensing Image
    Scene Classification via Learning Discriminative CNNs", IEEE TGRS 56(5), 2018. Its metric
    term, for pairs with y_ij = +1 (same class) or -1 (different classes), is

        h(beta - y_ij (tau - d_ij^2)),   h(x) = max(0, x),

    i.e. positive pairs are pulled below d^2 = tau - beta and negative pairs pushed beyond
    d^2 = tau + beta, with d the Euclidean distance (here of the L2-normalised embeddings, so
    d^2 = 2 - 2 cos lies in [0, 4]). D-CNN fed equal numbers of positive and negative pairs (a
    four-stream siamese layout); within a batch negatives far outnumber positives, so we average
    each kind separately and add the two means, which keeps that balance:

        L = mean_{pos pairs} [d^2 - (tau - beta)]_+ + mean_{neg pairs} [(tau + beta) - d^2]_+.

    Args:
        threshold: tau, the squared-distance threshold between the two kinds of pairs. Default
            1.0, the middle of [0, 2] between identical and orthogonal unit vectors (d^2 = 1 is
            an angle of 60 degrees); the paper's value was set for unnormalised CNN features.
        margin: beta, half the gap around tau, default 0.05 (the D-CNN authors' pair loss).
        num_classes: C; only used when ``classifier_weight`` > 0.
        dim: D; only used when ``classifier_weight`` > 0.
        classifier_weight: weight of an added softmax cross-entropy on a Linear(D, C) classifier
            of the raw vector v, D-CNN's full objective (CE + lambda * metric term, here written
            as metric term + weight * CE). Default 0: the metric term alone, as a DML baseline.
    """

    # both hinge terms need pairs: two classes x two images give a positive and a negative pair.
    needs = Needs(sampler="balanced", min_batch_size=4, pairs=True)

    def __init__(
        self,
        num_classes: int,
        dim: int,
        threshold: float = 1.0,
        margin: float = 0.05,
        classifier_weight: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive(threshold=threshold)
        if not 0.0 <= margin < threshold:
            raise ValueError(f"margin must lie in [0, threshold={threshold}), got {margin}.")
        if classifier_weight < 0:
            raise ValueError(f"classifier_weight must be >= 0, got {classifier_weight}.")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.classifier_weight = float(classifier_weight)
        if self.classifier_weight > 0:
            self.classifier = linear_classifier(dim, num_classes)

    def forward(self, batch: Batch) -> Tensor:
        """Return the balanced contrastive hinge (+ weighted CE when enabled)."""
        squared = euclidean_distances(batch.embeddings, squared=True)
        positive, negative = same_label_masks(batch.labels)
        positive_hinge = (squared - (self.threshold - self.margin)).clamp_min(0.0)
        negative_hinge = ((self.threshold + self.margin) - squared).clamp_min(0.0)
        loss = _masked_mean(positive_hinge, positive) + _masked_mean(negative_hinge, negative)
        if self.classifier_weight > 0:
            loss = loss + self.classifier_weight * F.cross_entropy(
                self.classifier(batch.raw), batch.labels
            )
        return loss


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is true; 0 (with a gradient path) when none is."""
    count = mask.sum()
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / count.clamp_min(1).to(values.dtype)
