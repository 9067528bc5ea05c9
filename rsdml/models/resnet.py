"""ResNet-18 and ResNet-50 (the papers' backbones) with torchvision's ``IMAGENET1K_V1`` weights (what
the papers' ``pretrained=True`` loads), through torchvision's weights API, which downloads once into
the torch hub cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from rsdml.errors import brief
from rsdml.models.backbones import (
    IMAGENET_PREPROCESSING,
    Backbone,
    BackboneConfig,
    register_backbone,
)
from rsdml.models.weights import (
    WeightsUnavailableError,
    file_digest,
    load_state_by_name,
    random_weights_id,
    read_state_file,
)

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

# torchvision's ImageNet weights were trained on ImageNet mean/std (its transforms say so).
RESNET18 = BackboneConfig(
    name="resnet18",
    source="torchvision ResNet18_Weights.IMAGENET1K_V1",
    feature_dim=512,
    preprocessing=IMAGENET_PREPROCESSING,
)
RESNET50 = BackboneConfig(
    name="resnet50",
    source="torchvision ResNet50_Weights.IMAGENET1K_V1",
    feature_dim=2048,
    preprocessing=IMAGENET_PREPROCESSING,
)


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


def _build_resnet(config: BackboneConfig, pretrained: bool, weights: Path | None) -> Backbone:
    import torchvision.models as tvm

    name = config.name
    constructors = {
        "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
        "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1),
    }
    constructor, weights_enum = constructors[name]
    model = constructor(weights=None)
    if weights is not None:
        state = read_state_file(weights)
        load_state_by_name(model, state, repr(str(weights)), optional=("fc.",))
        weights_id = f"file-sha256-{file_digest(weights)}"
        has_fc = "fc.weight" in state and "fc.bias" in state
    elif pretrained:
        state = _torchvision_imagenet_state(name, weights_enum)
        load_state_by_name(model, state, str(weights_enum))
        weights_id = f"torchvision-{weights_enum}"
        has_fc = True
    else:
        weights_id = random_weights_id(model)
        has_fc = False
    classifier = (model.fc.weight, model.fc.bias) if has_fc else None
    feature_dim = model.fc.in_features
    # The trunk ends in torchvision's global average pool + flatten once fc is gone.
    model.fc = nn.Identity()
    return Backbone(name, model, feature_dim, weights_id, classifier, config=config)


@register_backbone(RESNET18)
def _resnet18(pretrained: bool, weights: Path | None) -> Backbone:
    """torchvision ResNet-18 (512-d features), the papers' default backbone."""
    return _build_resnet(RESNET18, pretrained, weights)


@register_backbone(RESNET50)
def _resnet50(pretrained: bool, weights: Path | None) -> Backbone:
    """torchvision ResNet-50 (2048-d features)."""
    return _build_resnet(RESNET50, pretrained, weights)
