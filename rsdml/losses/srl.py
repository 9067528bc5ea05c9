"""SRL: similarity retention loss, a ranked-list-style pairwise loss (our reconstruction).

Definition and defaults: ``docs/methods.md#srl``.
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


@register_method(
    "srl",
    title="SRL (our reconstruction)",
    paper="Zhao, Yuan & Zhao, ISPRS IJGI 9(2), 61, 2020",
    family="pair",
    description="Ranked-list-style loss keeping each class's spread inside a boundary, with mined, weighted pairs.",
    formula="L = 1/B sum_i [(1 + beta |E_i|/|P_i|) mean_{j in H_i} [d_ij - (alpha - m)]_+ + lambda_n sum_{j in N*_i} omega_ij [alpha - d_ij]_+], omega_ij ~ exp(T_n (alpha - d_ij))",
)
class SimilarityRetentionLoss(MetricLoss):
    """Similarity retention loss (SRL), reconstructed as a ranked-list-style loss.

    Zhao, Yuan & Zhao, "Similarity Retention Loss (SRL) Based on Deep Metric Learning for Remote
    Sensing Image Retrieval", ISPRS Int. J. Geo-Inf. 9(2), 61, 2020. The paper's full text is not
    available to us, so this is our formulation of what its accessible text states,
    built on the Ranked List Loss (Wang et al., CVPR 2019) whose two distance hyper-parameters its
    Algorithm 1 mirrors. Every choice and its reason:

    Distances. d_ij is the Euclidean distance of the L2-normalised embeddings (in [0, 2]), as in
    RLL; all pairs come from the batch (the engine uses a class-balanced sampler).

    Positives are pulled inside a boundary, not to a point. The paper learns "a threshold between
    similar samples" so that each class keeps its intra-class distribution. A positive j of anchor
    i costs [d_ij - (alpha - m)]_+: once inside the ball of radius alpha - m it exerts no force,
    so the class keeps its spread inside that ball.

    Hard-positive mining with a threshold. Hard positives are the same-class samples farther than
    ``positive_threshold`` (default alpha - m, the boundary itself: the paper's parameter list
    names no separate threshold); the others are easy. H_i and E_i denote them, P_i = H_i + E_i.

    Hard-positive weights from the ratio of easy to hard positives of the class. With
    r_i = |E_i| / |H_i|, the positive term of anchor i is

        L_P(i) = (1 + beta * r_i / (1 + r_i)) * (1 / |H_i|) sum_{j in H_i} [d_ij - (alpha - m)]_+

    (zero when H_i is empty). r / (1 + r) = |E_i| / |P_i| is monotone in the ratio and bounded, so
    the weight grows from 1 (a spread class: plain RLL) to 1 + beta (a class that is compact
    around the anchor but still has a few stragglers, which then get up to twice the pull) and can
    never explode when only one hard positive is left. beta = ``positive_weight_gain``.

    Negative weights from the density of negatives around the anchor. Negatives inside the
    boundary alpha are violating (N*_i). Each gets the normalised weight

        omega_ij = exp(T_n (alpha - d_ij)) / sum_{k in N*_i} exp(T_n (alpha - d_ik)),
        L_N(i) = sum_{j in N*_i} omega_ij [alpha - d_ij]_+,

    i.e. a softmax over how deep each negative sits inside the anchor's neighbourhood: when the
    neighbourhood is crowded the closest negatives dominate, when it is sparse the few intruders
    share the weight; the normalisation keeps the term's scale independent of how many negatives
    the batch holds. The weights are treated as constants (detached), as importance weights,
    so that the gradient is that of the weighted hinges.

    Total: L = (1 / B) sum_i [L_P(i) + lambda_n L_N(i)].

    Args:
        boundary: alpha, the negative boundary on d, default 1.2. Orthogonal unit vectors are at
            sqrt(2) ~ 1.41, so negatives are only asked to be nearly orthogonal (cos < 0.28),
            not opposite, which leaves room for C >> D classes.
        margin: m, the gap between the positive boundary alpha - m and alpha, default 0.4:
            positives within 0.8 (cos > 0.68), a spread that still leaves a margin to the
            negatives. The values are in the range of RLL's public settings (folder names
            suggest alpha 1.2-1.4, m 0.2-0.4, T_n 10; unverified); SRL's own
            values are unknown.
        negative_temperature: T_n, the sharpness of the negative weights, default 10.
        negative_weight: lambda_n, the weight of the negative term, default 1.
        positive_threshold: distance beyond which a positive counts as hard; default (None) the
            positive boundary alpha - m.
        positive_weight_gain: beta, how much the easy-to-hard ratio can raise the hard-positive
            weight, default 1 (0 gives RLL's positive term).
    """

    # both terms need pairs: two classes x two images give a positive and a negative pair.
    needs = Needs(sampler="balanced", min_batch_size=4, pairs=True)

    def __init__(
        self,
        boundary: float = 1.2,
        margin: float = 0.4,
        negative_temperature: float = 10.0,
        negative_weight: float = 1.0,
        positive_threshold: float | None = None,
        positive_weight_gain: float = 1.0,
    ) -> None:
        super().__init__()
        _check_positive(boundary=boundary, negative_temperature=negative_temperature)
        if not 0.0 <= margin < boundary:
            raise ValueError(f"margin must lie in [0, boundary={boundary}), got {margin}.")
        if negative_weight < 0 or positive_weight_gain < 0:
            raise ValueError("negative_weight and positive_weight_gain must be >= 0.")
        self.boundary = float(boundary)
        self.margin = float(margin)
        self.negative_temperature = float(negative_temperature)
        self.negative_weight = float(negative_weight)
        self.positive_threshold = (
            self.boundary - self.margin if positive_threshold is None else float(positive_threshold)
        )
        self.positive_weight_gain = float(positive_weight_gain)

    def forward(self, batch: Batch) -> Tensor:
        """Return (1/B) sum_i [L_P(i) + lambda_n L_N(i)] over the batch's anchors."""
        distances = euclidean_distances(batch.embeddings)
        positive, negative = same_label_masks(batch.labels)
        zeros = torch.zeros_like(distances)

        hard = positive & (distances > self.positive_threshold)
        hard_count = hard.sum(dim=1).to(distances.dtype)
        positive_count = positive.sum(dim=1).to(distances.dtype)
        easy_fraction = (positive_count - hard_count) / positive_count.clamp_min(1.0)
        positive_scale = 1.0 + self.positive_weight_gain * easy_fraction
        positive_hinge = (distances - (self.boundary - self.margin)).clamp_min(0.0)
        positive_term = torch.where(hard, positive_hinge, zeros).sum(dim=1)
        positive_term = positive_scale * positive_term / hard_count.clamp_min(1.0)

        violating = negative & (distances < self.boundary)
        with torch.no_grad():
            logits = (self.negative_temperature * (self.boundary - distances)).masked_fill(
                ~violating, -torch.inf
            )
            # Rows without violating negatives would be all -inf: give them zero weights.
            weights = torch.where(
                violating.any(dim=1, keepdim=True), torch.softmax(logits, dim=1), zeros
            )
        negative_hinge = (self.boundary - distances).clamp_min(0.0)
        negative_term = (weights * negative_hinge).sum(dim=1)

        return (positive_term + self.negative_weight * negative_term).mean()
