"""What the loop feeds a frozen-mode head: one drawn geometric view per sample, and the feature
cache key that follows the decoded images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsdml.data import DecodedImages
from rsdml.train.inputs import FeatureInputs, ImageInputs, feature_cache_parts


def make_inputs() -> FeatureInputs:
    # feature value = 10 * view number + sample number, so every row says where it came from
    samples, views = 6, ("plain", "hflip", "rot90")
    features = {
        name: (10.0 * v + torch.arange(samples, dtype=torch.float32))[:, None].repeat(1, 3)
        for v, name in enumerate(views)
    }
    return FeatureInputs(features, augmented=np.array([0, 1, 2, 3]))


def test_each_sample_gets_the_view_drawn_for_it():
    inputs = make_inputs()
    indices = torch.tensor([3, 0, 2, 1, 3])
    batch = inputs.train_batch(indices, torch.Generator().manual_seed(7))
    drawn = torch.randint(3, (5,), generator=torch.Generator().manual_seed(7))
    expected = 10.0 * drawn + indices
    assert torch.equal(batch[:, 0], expected)
    assert torch.equal(batch[:, 0], batch[:, 2])


def test_images_without_extra_views_always_come_plain():
    inputs = make_inputs()
    indices = torch.tensor([4, 5] * 20)
    batch = inputs.train_batch(indices, torch.Generator().manual_seed(0))
    assert torch.equal(batch[:, 0], indices.float())


def test_draws_cover_every_view():
    inputs = make_inputs()
    indices = torch.zeros(300, dtype=torch.long)
    batch = inputs.train_batch(indices, torch.Generator().manual_seed(1))
    assert set(batch[:, 0].tolist()) == {0.0, 10.0, 20.0}


def test_evaluation_sees_plain_features_only():
    inputs = make_inputs()
    chunks = list(inputs.eval_chunks(np.arange(6), chunk=4))
    assert [len(c) for c in chunks] == [4, 2]
    assert torch.equal(torch.cat(chunks)[:, 0], torch.arange(6, dtype=torch.float32))
    assert inputs.feature_dim == 3


def test_layer_normalised_inputs_are_the_rows_a_head_would_normalise_per_batch():
    generator = torch.Generator().manual_seed(0)
    features = {
        name: torch.randn(50, 16, generator=generator) * 4 + 2 for name in ("plain", "hflip")
    }
    inputs = FeatureInputs(features, augmented=np.arange(30))
    normalised = inputs.layer_normalised()
    assert normalised is inputs.layer_normalised()  # computed once, kept with the inputs
    layer_norm = torch.nn.LayerNorm(16, elementwise_affine=False)
    indices = torch.tensor([3, 41, 7, 29, 7])
    batch = normalised.train_batch(indices, torch.Generator().manual_seed(5))
    raw = inputs.train_batch(indices, torch.Generator().manual_seed(5))
    assert torch.equal(batch, layer_norm(raw))  # bit for bit, not merely close
    (chunk,) = normalised.eval_chunks(np.arange(50))
    assert torch.equal(chunk, layer_norm(features["plain"]))
    assert torch.equal(inputs.views["plain"], features["plain"])  # the raw table is untouched


def test_feature_cache_follows_the_image_cache_key(tmp_path, monkeypatch, flatten_backbone):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    backbone = flatten_backbone(4)
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)

    def build(key: str) -> FeatureInputs:
        return FeatureInputs.build(
            backbone,
            images,
            files_key=key,
            image_size=4,
            views=("plain", "hflip"),
            augmented=np.array([1, 3]),
            device="cpu",
            progress=False,
        )

    build("images-key-a")
    assert backbone.trunk.seen == 5 + 2  # plain of all, hflip of the augmented two
    build("images-key-a")
    assert backbone.trunk.seen == 7  # both read from the cache
    build("images-key-b")  # other images behind the same array shape: computed again
    assert backbone.trunk.seen == 14
    assert feature_cache_parts("k", 4) != feature_cache_parts("k", 4, np.array([1, 3]))
    assert feature_cache_parts("k", 4)[0] == "k"


def test_embedding_is_announced_once_before_the_work(
    tmp_path, monkeypatch, capsys, flatten_backbone
):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    backbone = flatten_backbone(4)
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)

    def build(views: tuple[str, ...]) -> None:
        FeatureInputs.build(
            backbone,
            images,
            files_key="images-key",
            image_size=4,
            views=views,
            augmented=np.array([1, 3]),
            device="cpu",
            progress=False,
        )

    build(("plain", "hflip", "vflip"))
    [line] = capsys.readouterr().err.splitlines()
    # plain of all five images, two extra views of the two augmented ones
    assert "3 view(s)" in line and "9 image passes" in line
    assert "plain 5, hflip 2, vflip 2" in line
    assert str(tmp_path / "cache" / "features") in line and "later run" in line
    build(("plain", "hflip", "vflip", "rot90"))
    [line] = capsys.readouterr().err.splitlines()
    assert "1 view(s)" in line and "2 image passes (rot90 2)" in line
    build(("plain", "hflip"))
    assert capsys.readouterr().err == ""  # everything cached: nothing to announce


def test_fine_tuning_reads_decoded_images_at_the_input_size():
    stored = np.random.default_rng(2).integers(0, 256, (5, 3, 6, 6), dtype=np.uint8)
    images = DecodedImages(stored, 16)
    inputs = ImageInputs(images, 16, chunk=2)
    chunks = list(inputs.eval_chunks(np.array([4, 0, 3])))
    assert [tuple(c.shape) for c in chunks] == [(2, 3, 16, 16), (1, 3, 16, 16)]
    expected = torch.from_numpy(images[[4, 0, 3]]).float() / 255
    torch.testing.assert_close(torch.cat(chunks), expected)
    torch.manual_seed(0)
    assert inputs.train_batch(torch.tensor([1, 2]), torch.Generator()).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="read at 16 px"):
        ImageInputs(images, 32)


def test_frozen_features_of_decoded_images_are_those_of_the_array(
    tmp_path, monkeypatch, flatten_backbone
):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    stored = np.random.default_rng(3).integers(0, 256, (5, 3, 3, 3), dtype=np.uint8)
    images = DecodedImages(stored, 4)

    def build(source: DecodedImages | np.ndarray, key: str) -> FeatureInputs:
        return FeatureInputs.build(
            flatten_backbone(4),
            source,
            files_key=key,
            image_size=4,
            views=("plain", "hflip"),
            augmented=np.array([1, 3]),
            device="cpu",
            progress=False,
        )

    decoded, array = build(images, "decoded"), build(np.asarray(images), "array")
    for view in ("plain", "hflip"):
        torch.testing.assert_close(decoded.views[view], array.views[view])
