"""Triplet margin loss with in-batch mining (batch-hard or FaceNet semi-hard).

Definition and defaults: ``docs/methods.md#triplet``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rsdml.losses.base import (
    Batch,
    MetricLoss,
    Needs,
    _check_positive,
    euclidean_distances,
    same_label_masks,
)
from rsdml.losses.registry import register_method

MINING = ("batch_hard", "semi_hard")


@register_method(
    "triplet",
    title="Triplet",
    paper="Schroff et al., CVPR 2015; Hermans et al., arXiv 1703.07737",
    family="pair",
    description="Triplet margin loss with batch-hard (default) or semi-hard in-batch mining.",
    formula="L = mean_a [max_p d(a,p) - min_n d(a,n) + margin]_+",
)
class TripletLoss(MetricLoss):
    """Triplet margin loss [d(a, p) - d(a, n) + margin]_+ on Euclidean distances of L2 embeddings.

    Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015 (semi-hard mining); Hermans, Beyer &
    Leibe, "In Defense of the Triplet Loss for Person Re-Identification", arXiv 1703.07737
    (batch-hard mining). The Triplet baseline of the Kang et al. papers.

    Mining (within the batch, labels from ``Batch.labels``):

    - ``"batch_hard"`` (default): one triplet per anchor, with its farthest positive and its
      closest negative; the loss is the mean over anchors that have both.
    - ``"semi_hard"``: one triplet per anchor-positive pair (a, p), with the closest negative
      that is farther than p (d(a, n) > d(a, p)); when no negative is farther, the farthest
      negative is used (as TensorFlow's semi-hard triplet loss does). Mean over all pairs (a, p)
      whose anchor has a negative.

    Args:
        margin: the margin, default 0.2: FaceNet's value for unit-norm embeddings. Distances of
            unit vectors lie in [0, 2] (sqrt 2 for orthogonal ones), so 0.2 asks for a gap of a
            tenth of the sphere's diameter; much larger margins make batch-hard mining collapse
            early in training.
        mining: ``"batch_hard"`` or ``"semi_hard"``.
    """

    # a triplet needs an anchor, a positive and a negative: two classes x two images.
    needs = Needs(sampler="balanced", min_batch_size=4, pairs=True)

    def __init__(self, margin: float = 0.2, mining: str = "batch_hard") -> None:
        super().__init__()
        _check_positive(margin=margin)
        if mining not in MINING:
            raise ValueError(f"mining must be one of {MINING}, got {mining!r}.")
        self.margin = float(margin)
        self.mining = mining

    def forward(self, batch: Batch) -> Tensor:
        """Return the mean triplet hinge over the mined triplets (0 when none can be formed)."""
        distances = euclidean_distances(batch.embeddings)
        positive, negative = same_label_masks(batch.labels)
        if self.mining == "batch_hard":
            return self._batch_hard(distances, positive, negative)
        return self._semi_hard(distances, positive, negative)

    def _batch_hard(self, distances: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """Farthest positive and closest negative per anchor."""
        valid = positive.any(dim=1) & negative.any(dim=1)
        hardest_positive = distances.masked_fill(~positive, -torch.inf).amax(dim=1)
        hardest_negative = distances.masked_fill(~negative, torch.inf).amin(dim=1)
        hinge = (hardest_positive - hardest_negative + self.margin).clamp_min(0.0)
        hinge = torch.where(valid, hinge, torch.zeros_like(hinge))
        return hinge.sum() / valid.sum().clamp_min(1).to(hinge.dtype)

    def _semi_hard(self, distances: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """Closest negative beyond each positive, else the farthest negative."""
        # (anchor, positive, negative) cube: B^3 booleans, fine for batches of a few hundred.
        anchor_positive = distances[:, :, None]
        anchor_negative = distances[:, None, :]
        farther = negative[:, None, :] & (anchor_negative > anchor_positive)
        closest_farther = anchor_negative.masked_fill(~farther, torch.inf).amin(dim=2)
        farthest = distances.masked_fill(~negative, -torch.inf).amax(dim=1)
        has_farther = farther.any(dim=2)
        chosen = torch.where(
            has_farther, closest_farther, farthest[:, None].expand_as(closest_farther)
        )
        valid = positive & negative.any(dim=1, keepdim=True)
        hinge = (distances - chosen + self.margin).clamp_min(0.0)
        hinge = torch.where(valid, hinge, torch.zeros_like(hinge))
        return hinge.sum() / valid.sum().clamp_min(1).to(hinge.dtype)
