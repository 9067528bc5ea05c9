"""Frozen-backbone feature extraction: geometric views, disk cache, batching and device handling."""

from __future__ import annotations

import errno
import json
import tempfile
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from rsdml.errors import UserError
from rsdml.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_PREPROCESSING,
    VIEWS,
    Backbone,
    EmbeddingHead,
    Preprocessing,
    apply_view,
    create_backbone,
    extract_features,
    feature_cache_path,
)
from rsdml.storage import CacheNotWritable

SIZE = 4


class CountingFlatten(nn.Module):
    """An identity-like trunk: flattens the normalised image and counts the images it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.images_seen = 0
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images_seen += x.shape[0]
        self.modes.append(self.training)
        return x.flatten(1)


def _fake_backbone(
    weights_id: str = "fake-1", preprocessing: Preprocessing | None = None
) -> Backbone:
    return Backbone(
        "fake", CountingFlatten(), 3 * SIZE * SIZE, weights_id, preprocessing=preprocessing
    )


def _images(count: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3, SIZE, SIZE), dtype=np.uint8)


def _normalised(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).double() / 255
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    return (x - mean) / std


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")


def test_views_on_a_hand_made_image():
    image = torch.tensor([[1, 2], [3, 4]])
    expected = {
        "plain": [[1, 2], [3, 4]],
        "hflip": [[2, 1], [4, 3]],
        "vflip": [[3, 4], [1, 2]],
        "rot90": [[2, 4], [1, 3]],  # counter-clockwise
        "rot180": [[4, 3], [2, 1]],
        "rot270": [[3, 1], [4, 2]],
        "transpose": [[1, 3], [2, 4]],
    }
    assert set(expected) == set(VIEWS)
    for view, values in expected.items():
        assert apply_view(image, view).tolist() == values, view
    with pytest.raises(ValueError, match="rot90"):
        apply_view(image, "shear")


def test_extracted_views_are_the_geometric_transforms():
    images = _images()
    reference = {
        "plain": lambda x: x,
        "hflip": lambda x: torch.flip(x, dims=[3]),
        "vflip": lambda x: torch.flip(x, dims=[2]),
        "rot90": lambda x: torch.rot90(x, 1, dims=[2, 3]),
        "rot180": lambda x: torch.rot90(x, 2, dims=[2, 3]),
        "rot270": lambda x: torch.rot90(x, 3, dims=[2, 3]),
        "transpose": lambda x: x.permute(0, 1, 3, 2),
    }
    outputs = {}
    for view in VIEWS:
        features = extract_features(_fake_backbone(), images, view=view, batch_size=2)
        assert features.dtype == torch.float32 and features.device.type == "cpu"
        expected = reference[view](_normalised(images)).flatten(1).float()
        torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
        outputs[view] = features
    for i, first in enumerate(VIEWS):
        for second in VIEWS[i + 1 :]:
            assert not torch.allclose(outputs[first], outputs[second]), (first, second)


def test_cache_hit_returns_identical_features_without_recomputing(tmp_path):
    images = _images()
    backbone = _fake_backbone()
    parts = ("filelist-abc", "train", SIZE)
    first = extract_features(backbone, images, cache_parts=parts)
    assert backbone.trunk.images_seen == len(images)
    path = feature_cache_path(backbone, images.shape, "plain", parts)
    assert path.is_file() and path.parent == tmp_path / "cache" / "features"
    mtime = path.stat().st_mtime_ns

    second = extract_features(backbone, images, cache_parts=parts)
    assert backbone.trunk.images_seen == len(images)  # nothing recomputed
    assert torch.equal(first, second)
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary leftovers

    # a fresh backbone object with the same name and weights shares the cache
    other_object = _fake_backbone()
    assert torch.equal(extract_features(other_object, images, cache_parts=parts), first)
    assert other_object.trunk.images_seen == 0


def test_features_cached_says_what_extract_features_will_find():
    from rsdml.models.features import features_cached

    images, backbone, parts = _images(), _fake_backbone(), ("filelist-abc", "train", SIZE)
    assert not features_cached(backbone, images.shape, "hflip", parts)
    extract_features(backbone, images, view="hflip", cache_parts=parts)
    assert features_cached(backbone, images.shape, "hflip", parts)
    assert not features_cached(backbone, images.shape, "vflip", parts)
    assert not features_cached(_fake_backbone("fake-2"), images.shape, "hflip", parts)


def test_cache_key_covers_view_parts_weights_and_shape():
    images = _images()
    backbone = _fake_backbone()
    parts = ("filelist-abc", "train", SIZE)
    base = feature_cache_path(backbone, images.shape, "plain", parts)
    variants = [
        feature_cache_path(backbone, images.shape, "hflip", parts),
        feature_cache_path(backbone, images.shape, "plain", ("filelist-abc", "test", SIZE)),
        feature_cache_path(_fake_backbone("fake-2"), images.shape, "plain", parts),
        feature_cache_path(backbone, (4, 3, SIZE, SIZE), "plain", parts),
    ]
    assert len({base, *variants}) == 5

    extract_features(backbone, images, cache_parts=parts)
    flipped = extract_features(backbone, images, cache_parts=parts, view="hflip")
    assert backbone.trunk.images_seen == 2 * len(images)  # the new view was computed
    assert len(list(base.parent.glob("*.pt"))) == 2
    assert not torch.equal(flipped, extract_features(backbone, images, cache_parts=parts))


def test_features_of_one_preprocessing_are_never_served_for_another():
    images, parts = _images(), ("filelist-abc", "train", SIZE)
    imagenet = _fake_backbone()  # ImageNet mean/std, as an unregistered backbone has
    inception = _fake_backbone(preprocessing=INCEPTION_PREPROCESSING)
    assert feature_cache_path(imagenet, images.shape, "plain", parts) != feature_cache_path(
        inception, images.shape, "plain", parts
    )
    first = extract_features(imagenet, images, cache_parts=parts)
    second = extract_features(inception, images, cache_parts=parts)
    assert inception.trunk.images_seen == len(images)  # computed, not read from the cache
    expected = (torch.from_numpy(images).double() / 255 * 2 - 1).flatten(1).float()
    torch.testing.assert_close(second, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(first, _normalised(images).flatten(1).float())
    # the same values under another name are the same function: one entry
    renamed = Preprocessing("renamed", INCEPTION_PREPROCESSING.mean, INCEPTION_PREPROCESSING.std)
    again = _fake_backbone(preprocessing=renamed)
    assert torch.equal(extract_features(again, images, cache_parts=parts), second)
    assert again.trunk.images_seen == 0
    stored = torch.load(feature_cache_path(inception, images.shape, "plain", parts))
    assert '"name": "inception"' in stored["meta"] and '"mean": [0.5, 0.5, 0.5]' in stored["meta"]


def test_without_cache_parts_nothing_is_written(tmp_path):
    backbone = _fake_backbone()
    extract_features(backbone, _images())
    extract_features(backbone, _images())
    assert backbone.trunk.images_seen == 10
    assert not (tmp_path / "cache" / "features").exists()


def _overwrite_rows(path):
    """Change the stored features in place, leaving the metadata (and its checksum) as it was."""
    stored = torch.load(path, weights_only=True)
    stored["features"][1:3] += 1.0
    torch.save(stored, path)


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _drop_checksum(path):
    stored = torch.load(path, weights_only=True)
    torch.save({"features": stored["features"], "meta": "{}"}, path)


@pytest.mark.parametrize("damage", [_overwrite_rows, _random_bytes, _truncate, _drop_checksum])
def test_damaged_cache_file_is_noted_and_recomputed(damage, capsys):
    images = _images()
    backbone = _fake_backbone()
    parts = ("damaged",)
    first = extract_features(backbone, images, cache_parts=parts)
    path = feature_cache_path(backbone, images.shape, "plain", parts)
    damage(path)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note on stderr, not a Python warning
        features = extract_features(backbone, images, cache_parts=parts)
    assert backbone.trunk.images_seen == 2 * len(images)  # recomputed, not read
    assert torch.equal(features, first)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "recomputing" in err
    assert torch.equal(torch.load(path, weights_only=True)["features"], first)  # rewritten
    extract_features(backbone, images, cache_parts=parts)
    assert backbone.trunk.images_seen == 2 * len(images)  # the repaired file is used again
    assert capsys.readouterr().err == ""


def _pretend_engine(path, name):
    """Mark the cached features as computed by engine ``name`` (features and checksum kept)."""
    stored = torch.load(path, weights_only=True)
    meta = json.loads(stored["meta"])
    meta["engine"] = name
    torch.save({"features": stored["features"], "meta": json.dumps(meta)}, path)


def test_an_engine_asked_for_by_name_recomputes_another_engines_features(capsys):
    images = _images()
    backbone = _fake_backbone()
    parts = ("engines",)
    first = extract_features(backbone, images, cache_parts=parts, engine="torch")
    path = feature_cache_path(backbone, images.shape, "plain", parts)
    _pretend_engine(path, "onnxruntime")
    capsys.readouterr()

    # auto takes whichever engine's features are cached
    assert torch.equal(extract_features(backbone, images, cache_parts=parts), first)
    assert backbone.trunk.images_seen == len(images)

    # torch by name recomputes them, says so, and caches its own
    assert torch.equal(extract_features(backbone, images, cache_parts=parts, engine="torch"), first)
    assert backbone.trunk.images_seen == 2 * len(images)
    err = capsys.readouterr().err
    assert "computed with onnxruntime, not the requested torch" in err and str(path) in err
    assert json.loads(torch.load(path, weights_only=True)["meta"])["engine"] == "torch"
    extract_features(backbone, images, cache_parts=parts, engine="torch")
    assert backbone.trunk.images_seen == 2 * len(images)


def test_a_named_engine_that_fell_back_to_torch_takes_torchs_cached_features(capsys):
    # this suite sees no optional engine installed (tests/conftest.py): onnxruntime by name
    # computes with torch, and must then find torch's features rather than recompute forever
    images = _images()
    backbone = _fake_backbone()
    parts = ("fallback",)
    extract_features(backbone, images, cache_parts=parts, engine="onnxruntime")
    extract_features(backbone, images, cache_parts=parts, engine="onnxruntime")
    assert backbone.trunk.images_seen == len(images)
    assert "recomputing" not in capsys.readouterr().err


def test_unwritable_feature_cache_names_the_folder_and_the_fix(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    backbone = _fake_backbone()
    with pytest.raises(CacheNotWritable, match="RSDML_CACHE") as error:
        extract_features(backbone, _images(), cache_parts=("ro",))
    folder = feature_cache_path(backbone, _images().shape, "plain", ("ro",)).parent
    assert str(folder) in str(error.value) and isinstance(error.value, UserError)


def test_batching_does_not_change_the_result_and_mode_is_restored():
    images = _images(7)
    backbone = _fake_backbone().train()
    in_batches = extract_features(backbone, images, batch_size=3)
    at_once = extract_features(backbone, images, batch_size=64)
    assert torch.equal(in_batches, at_once)
    assert backbone.trunk.modes == [False] * 4  # 3 + 1 batches, all in eval mode
    assert backbone.training  # restored


def test_memory_mapped_and_tensor_inputs(tmp_path):
    images = _images()
    np.save(tmp_path / "images.npy", images)
    mapped = np.load(tmp_path / "images.npy", mmap_mode="r")
    expected = extract_features(_fake_backbone(), images)
    torch.testing.assert_close(extract_features(_fake_backbone(), mapped), expected)
    torch.testing.assert_close(
        extract_features(_fake_backbone(), torch.from_numpy(images)), expected
    )


def test_bad_inputs_are_refused_with_the_fix():
    backbone = _fake_backbone()
    with pytest.raises(TypeError, match="uint8"):
        extract_features(backbone, _images().astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        extract_features(backbone, _images()[:, :1])
    with pytest.raises(ValueError, match="unknown view"):
        extract_features(backbone, _images(), view="rot45")
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(backbone, _images(), batch_size=0)


def test_real_backbone_features_match_its_forward_and_train_a_head():
    torch.manual_seed(0)
    backbone = create_backbone("efficientnet_lite0", pretrained=False)
    images = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    features = extract_features(backbone, images, batch_size=2)
    assert features.shape == (3, 1280)
    assert backbone.training  # mode restored
    with torch.no_grad():
        expected = backbone.eval()(torch.from_numpy(images).float() / 255)
    torch.testing.assert_close(features, expected, atol=1e-4, rtol=1e-4)
    # the returned tensor is an ordinary tensor that autograd can use (not an inference tensor)
    assert not features.is_inference()
    head = EmbeddingHead(1280, dim=8)
    head(features).embedding.sum().backward()
    assert head.linear.weight.grad is not None


def test_progress_bar_counts_images(capsys):
    extract_features(_fake_backbone(), _images(), progress=True)
    assert "img/s" in capsys.readouterr().err
