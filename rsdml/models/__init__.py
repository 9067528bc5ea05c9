"""Backbones, the embedding head and cached frozen-backbone features.

``create_backbone(name)`` gives an ImageNet feature extractor that takes [0, 1] images and returns
pooled features; ``EmbeddingHead`` maps those to L2-normalised embeddings; ``EmbeddingModel`` joins
the two for fine-tuning; ``extract_features`` computes and caches frozen-backbone features.
"""

from rsdml.models.backbones import (
    BACKBONES,
    DEFAULT_BACKBONE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    DeferredBackbone,
    UnknownBackboneError,
    WeightsFileNotFoundError,
    WeightsUnavailableError,
    create_backbone,
    defer_backbone,
    efficientnet_lite0_weights_path,
    list_backbones,
    register_backbone,
)
from rsdml.models.features import VIEWS, apply_view, extract_features, feature_cache_path
from rsdml.models.head import Embedded, EmbeddingHead, EmbeddingModel

__all__ = [
    "BACKBONES",
    "DEFAULT_BACKBONE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VIEWS",
    "Backbone",
    "DeferredBackbone",
    "Embedded",
    "EmbeddingHead",
    "EmbeddingModel",
    "UnknownBackboneError",
    "WeightsFileNotFoundError",
    "WeightsUnavailableError",
    "apply_view",
    "create_backbone",
    "defer_backbone",
    "efficientnet_lite0_weights_path",
    "extract_features",
    "feature_cache_path",
    "list_backbones",
    "register_backbone",
]
