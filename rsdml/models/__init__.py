"""Backbones, the embedding head and cached frozen-backbone features.

``create_backbone(name)`` gives an ImageNet feature extractor that takes [0, 1] images, normalises
them as its ``BackboneConfig`` record says (``backbone_config(name).preprocessing``; a name like
``"efficientnet_lite0@imagenet"`` asks for another of ``PREPROCESSINGS``), and returns pooled
features; ``EmbeddingHead`` maps those to L2-normalised embeddings; ``EmbeddingModel`` joins the
two for fine-tuning; ``extract_features`` computes and caches frozen-backbone features, with the
fastest installed engine (:mod:`rsdml.models.engines`: ONNX Runtime or OpenVINO on a CPU, torch on
a GPU). Builders live one family per module (``efficientnet``, ``resnet``); importing this
package registers them.
"""

from rsdml.models.backbones import (
    BACKBONE_CONFIGS,
    BACKBONES,
    DEFAULT_BACKBONE,
    IMAGENET_MEAN,
    IMAGENET_PREPROCESSING,
    IMAGENET_STD,
    INCEPTION_PREPROCESSING,
    PREPROCESSING_SEPARATOR,
    PREPROCESSINGS,
    Backbone,
    BackboneConfig,
    DeferredBackbone,
    Preprocessing,
    UnknownBackboneError,
    UnknownPreprocessingError,
    backbone_config,
    create_backbone,
    defer_backbone,
    list_backbones,
    parse_backbone,
    register_backbone,
)
from rsdml.models.efficientnet import EFFICIENTNET_LITE0, efficientnet_lite0_weights_path
from rsdml.models.features import VIEWS, apply_view, extract_features, feature_cache_path
from rsdml.models.head import Embedded, EmbeddingHead, EmbeddingModel
from rsdml.models.resnet import RESNET18, RESNET50
from rsdml.models.weights import WeightsFileNotFoundError, WeightsUnavailableError

__all__ = [
    "BACKBONES",
    "BACKBONE_CONFIGS",
    "EFFICIENTNET_LITE0",
    "RESNET18",
    "RESNET50",
    "DEFAULT_BACKBONE",
    "IMAGENET_MEAN",
    "IMAGENET_PREPROCESSING",
    "IMAGENET_STD",
    "INCEPTION_PREPROCESSING",
    "PREPROCESSING_SEPARATOR",
    "PREPROCESSINGS",
    "VIEWS",
    "Backbone",
    "BackboneConfig",
    "DeferredBackbone",
    "Preprocessing",
    "Embedded",
    "EmbeddingHead",
    "EmbeddingModel",
    "UnknownBackboneError",
    "UnknownPreprocessingError",
    "WeightsFileNotFoundError",
    "WeightsUnavailableError",
    "apply_view",
    "backbone_config",
    "create_backbone",
    "defer_backbone",
    "efficientnet_lite0_weights_path",
    "extract_features",
    "feature_cache_path",
    "list_backbones",
    "parse_backbone",
    "register_backbone",
]
