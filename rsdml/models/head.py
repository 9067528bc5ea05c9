"""The embedding head of the papers' code, and the backbone + head model that is fine-tuned.

The head maps pooled backbone features to the metric space: an optional parameter-free
``LayerNorm`` (HR-S2DML, after Zhai & Wu's NSL code), a Kaiming-initialised linear layer giving the
raw vector ``v``, and the L2-normalised embedding ``f = v / ||v||`` that every metric loss and every
evaluation uses. SNCA-CE's cross-entropy term reads class logits from a second linear layer fed
with the *un-normalised* ``v``; the head provides it when ``num_classes`` is given.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from torch import Tensor, nn
from torch.nn import functional as F

from rsdml.models.backbones import Backbone, create_backbone


class Embedded(NamedTuple):
    """What the head returns for a batch."""

    embedding: Tensor
    """(N, dim) L2-normalised embeddings ``f``."""
    raw: Tensor
    """(N, dim) the linear layer's output ``v`` before normalisation."""
    logits: Tensor | None
    """(N, num_classes) class logits computed from ``raw``, or None without a classifier."""


def _kaiming_linear(in_dim: int, out_dim: int) -> nn.Linear:
    """A linear layer with Kaiming-normal weights (fan-in, ReLU gain) and zero bias."""
    layer = nn.Linear(in_dim, out_dim)
    nn.init.kaiming_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class EmbeddingHead(nn.Module):
    """Optional LayerNorm, then Linear(in_dim, dim), then L2 normalisation (plus optional logits).

    Args:
        in_dim: width of the backbone features (e.g. 512 for ResNet-18).
        dim: embedding width (the papers use 128).
        layernorm: apply ``LayerNorm(in_dim, elementwise_affine=False)`` before the linear layer.
        num_classes: when given, also return logits of ``Linear(dim, num_classes)`` applied to the
            un-normalised vector ``v``.
    """

    def __init__(
        self, in_dim: int, dim: int = 128, layernorm: bool = True, num_classes: int | None = None
    ) -> None:
        super().__init__()
        if in_dim < 1 or dim < 1:
            raise ValueError(f"in_dim and dim must be positive; got in_dim={in_dim}, dim={dim}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be positive or None; got {num_classes}")
        self.in_dim = in_dim
        self.dim = dim
        self.num_classes = num_classes
        self.norm: nn.Module = (
            nn.LayerNorm(in_dim, elementwise_affine=False) if layernorm else nn.Identity()
        )
        self.linear = _kaiming_linear(in_dim, dim)
        self.classifier = _kaiming_linear(dim, num_classes) if num_classes is not None else None

    def forward(self, features: Tensor) -> Embedded:
        """Embed pooled features (N, in_dim)."""
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise ValueError(
                f"the head expects features shaped (N, {self.in_dim}); got {tuple(features.shape)}"
            )
        raw = self.linear(self.norm(features))
        embedding = F.normalize(raw, dim=1)
        logits = self.classifier(raw) if self.classifier is not None else None
        return Embedded(embedding, raw, logits)

    def extra_repr(self) -> str:
        """Dimensions in the module's repr."""
        return f"in_dim={self.in_dim}, dim={self.dim}, num_classes={self.num_classes}"


class EmbeddingModel(nn.Module):
    """Backbone + embedding head, trained end to end (full fine-tuning).

    For a frozen backbone call ``model.backbone.requires_grad_(False)``: the backbone then also
    stays in eval mode when ``model.train()`` is called, so its BatchNorm statistics do not drift
    while only the head learns. (For many epochs with a frozen backbone it is much cheaper to
    compute the features once with :func:`rsdml.models.extract_features` and train the head alone.)
    """

    def __init__(self, backbone: Backbone, head: EmbeddingHead) -> None:
        super().__init__()
        if head.in_dim != backbone.feature_dim:
            raise ValueError(
                f"head in_dim {head.in_dim} does not match backbone {backbone.name!r} "
                f"feature_dim {backbone.feature_dim}"
            )
        self.backbone = backbone
        self.head = head

    @classmethod
    def create(
        cls,
        backbone: str,
        *,
        dim: int = 128,
        layernorm: bool = True,
        num_classes: int | None = None,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
    ) -> EmbeddingModel:
        """Build a registered backbone and a matching head in one call."""
        body = create_backbone(backbone, pretrained=pretrained, weights=weights)
        return cls(body, EmbeddingHead(body.feature_dim, dim, layernorm, num_classes))

    @property
    def backbone_frozen(self) -> bool:
        """True when no backbone parameter requires a gradient."""
        return not any(p.requires_grad for p in self.backbone.parameters())

    def train(self, mode: bool = True) -> EmbeddingModel:
        """Set training mode; a frozen backbone is kept in eval mode."""
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def forward(self, images: Tensor) -> Embedded:
        """Embed float images (N, 3, H, W) in [0, 1]."""
        return self.head(self.backbone(images))
