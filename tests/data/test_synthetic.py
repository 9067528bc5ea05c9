"""The embedded synthetic dataset: deterministic, written once and atomically, hard but learnable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import rsdml.data.synthetic as synthetic
import rsdml.data.synthetic.generate as synthetic_generate
from rsdml.data import (
    SYNTHETIC_CLASSES,
    generate_synthetic,
    load_scene_list,
    read_image,
    render_scene,
)
from rsdml.data.synthetic import CONFUSABLE_PAIRS, scene_rng, synthetic_arrays


def test_class_catalogue():
    assert len(SYNTHETIC_CLASSES) == synthetic.MAX_CLASSES == 15
    assert len(set(SYNTHETIC_CLASSES)) == 15
    assert all(a in SYNTHETIC_CLASSES and b in SYNTHETIC_CLASSES for a, b in CONFUSABLE_PAIRS)
    default = set(SYNTHETIC_CLASSES[: synthetic.DEFAULT_NUM_CLASSES])
    assert {"dense_residential", "sparse_residential", "forest", "chaparral"} <= default


@pytest.mark.parametrize("name", SYNTHETIC_CLASSES)
def test_every_scene_renders_deterministically(name):
    first = render_scene(name, scene_rng(3, name, 0), 32)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, render_scene(name, scene_rng(3, name, 0), 32))
    assert not np.array_equal(first, render_scene(name, scene_rng(4, name, 0), 32))
    assert first.std() > 3  # not a flat image


def test_images_do_not_depend_on_how_many_are_requested():
    small, small_labels, small_classes = synthetic_arrays(3, 2, 24, seed=1)
    large, _, large_classes = synthetic_arrays(5, 4, 24, seed=1)
    assert large_classes[:3] == small_classes
    for label in range(3):
        np.testing.assert_array_equal(
            small[label * 2 : label * 2 + 2], large[label * 4 : label * 4 + 2]
        )
    assert small_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_files_written_once_in_the_cache(isolated_cache, monkeypatch):
    scenes = load_scene_list("synthetic", num_classes=4, images_per_class=3, image_size=24, seed=2)
    folder = scenes.root
    assert folder.parent == (isolated_cache / "synthetic").absolute()
    assert len(scenes) == 12 and scenes.classes == tuple(sorted(SYNTHETIC_CLASSES[:4]))
    assert all(path.suffix == ".png" and path.parent.parent == folder for path in scenes.files)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == 2 and manifest["image_size"] == 24
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging left behind
    # The PNG holds exactly the rendered pixels.
    name = scenes.classes[0]
    np.testing.assert_array_equal(
        read_image(folder / name / f"{name}_0001.png"),
        render_scene(name, scene_rng(2, name, 1), 24),
    )
    mtimes = [path.stat().st_mtime_ns for path in scenes.files]

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synthetic_generate, "render_scene", fail)
    again = load_scene_list("synthetic", num_classes=4, images_per_class=3, image_size=24, seed=2)
    assert again.files == scenes.files
    assert [path.stat().st_mtime_ns for path in again.files] == mtimes


def test_same_seed_same_bytes_in_different_caches(tmp_path):
    first = generate_synthetic(3, 2, 20, seed=5, root=tmp_path / "one")
    second = generate_synthetic(3, 2, 20, seed=5, root=tmp_path / "two")
    names = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert names == sorted(p.relative_to(second) for p in second.rglob("*.png")) and len(names) == 6
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = synthetic.render_scene

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(synthetic_generate, "render_scene", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic(2, 3, 16, root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(synthetic_generate, "render_scene", original)
    folder = generate_synthetic(2, 3, 16, root=tmp_path)
    assert len(list(folder.rglob("*.png"))) == 6


def test_configuration_is_validated():
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_arrays(16, 1, 32)
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_arrays(1, 1, 32)
    with pytest.raises(ValueError, match="image_size"):
        synthetic_arrays(2, 1, 8)
    with pytest.raises(KeyError, match="unknown synthetic class"):
        render_scene("volcano", np.random.default_rng(0))


def colour_texture_features(images: np.ndarray) -> np.ndarray:
    """Per-channel mean and spread plus edge energy: a crude stand-in for learned features."""
    x = images.astype(np.float32) / 255
    grad = (
        np.abs(np.diff(x, axis=2)).mean(axis=(2, 3)),
        np.abs(np.diff(x, axis=3)).mean(axis=(2, 3)),
    )
    return np.concatenate([x.mean(axis=(2, 3)), x.std(axis=(2, 3)), *grad], axis=1)


def test_learnable_but_not_trivial():
    images, labels, _ = synthetic_arrays(10, 24, 32, seed=0)
    knn = KNeighborsClassifier(n_neighbors=5)
    raw = images.reshape(len(images), -1).astype(np.float32)
    raw_accuracy = cross_val_score(knn, raw, labels, cv=4).mean()
    crude = colour_texture_features(images)
    crude = (crude - crude.mean(0)) / crude.std(0)
    crude_accuracy = cross_val_score(knn, crude, labels, cv=4).mean()
    # Chance is 0.1: pixels barely help (orientation and layout vary), simple statistics help a
    # lot but are far from perfect (confusable pairs share colours and textures).
    assert raw_accuracy < 0.6
    assert 0.45 < crude_accuracy < 0.95
