"""What a run loads before training: unreadable files skipped before the split, and cache keys
that follow the images rather than their names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rsdml.data import CorruptImageError, read_image
from rsdml.data.images import ImageOptionError
from rsdml.errors import UserError
from rsdml.models import Backbone
from rsdml.train import TrainConfig, prepare, prepare_data
from rsdml.train.inputs import plain_features
from rsdml.train.prepare import confusion_from_features, load_run_images, remembered_confusion

SIZE = 8


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")


def _write_tree(root: Path, seed: int, per_class: int = 10) -> list[Path]:
    rng = np.random.default_rng(seed)
    files = []
    for name in ("farm", "port"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            path = root / name / f"{name}_{index:02d}.png"
            Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
            files.append(path)
    return files


def _config(root: Path, **options) -> TrainConfig:
    return TrainConfig(
        dataset="folder", root=str(root), image_size=SIZE, dataset_options=options
    ).resolved()


def _plain_features(backbone: Backbone, images: np.ndarray, key: str) -> torch.Tensor:
    return plain_features(
        backbone, images, files_key=key, image_size=SIZE, device="cpu", progress=False
    )


def test_replaced_images_get_new_features(tmp_path, flatten_backbone):
    root = tmp_path / "scenes"
    files = _write_tree(root, seed=0)
    backbone = flatten_backbone(SIZE)
    scenes, _, images, key, _ = load_run_images(_config(root))
    first = _plain_features(backbone, images, key)
    assert backbone.trunk.seen == len(files)

    # other images under the same names (mtime moved on explicitly: coarse clocks may not)
    _write_tree(root, seed=1)
    for path in files:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    scenes, _, new_images, new_key, _ = load_run_images(_config(root))
    assert new_key != key
    second = _plain_features(backbone, new_images, new_key)
    assert backbone.trunk.seen == 2 * len(files)  # computed again, not read from the cache
    assert not torch.equal(second, first)
    torch.testing.assert_close(second, _plain_features(backbone, new_images, "fresh"))


def test_unreadable_files_are_skipped_before_the_split(tmp_path, capsys):
    root = tmp_path / "scenes"
    files = _write_tree(root, seed=0)
    broken = [files[3], files[14]]
    for path in broken:
        path.write_bytes(b"not an image")
    data = prepare_data(_config(root, on_error="skip"))

    assert data.skipped == [str(path) for path in broken]
    assert len(data.scenes) == len(files) - 2 and len(data.images) == len(data.scenes)
    assert not set(broken) & set(data.scenes.files)
    # every row of the image array is the image of the scene at that position, label included
    for row, path in enumerate(data.scenes.files):
        np.testing.assert_array_equal(data.images[row], read_image(path, SIZE).transpose(2, 0, 1))
        assert data.scenes.labels[row] == (0 if path.parent.name == "farm" else 1)
    every = np.concatenate([data.split.train, data.split.val, data.split.test])
    assert sorted(every.tolist()) == list(range(len(data.scenes)))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skipped 2 of 20 image files" in err


def test_without_skip_an_unreadable_file_names_the_option(tmp_path):
    root = tmp_path / "scenes"
    files = _write_tree(root, seed=0)
    files[5].write_bytes(b"not an image")
    with pytest.raises(CorruptImageError, match="--dataset-option on_error=skip") as error:
        prepare_data(_config(root))
    assert isinstance(error.value, UserError) and str(files[5]) in str(error.value)


def test_a_bad_on_error_value_is_a_user_error(tmp_path):
    root = tmp_path / "scenes"
    _write_tree(root, seed=0, per_class=3)
    with pytest.raises(ImageOptionError, match="'raise' or 'skip'"):
        load_run_images(_config(root, on_error="ignore"))


def test_a_run_left_to_the_default_embeds_views_by_the_size_of_its_training_split(
    tmp_path, monkeypatch
):
    from rsdml.models import VIEWS
    from rsdml.train import config as config_module
    from rsdml.train.prepare import run_views

    root = tmp_path / "scenes"
    _write_tree(root, seed=0)  # 2 classes x 10 images: 7 training images per class
    config = _config(root)
    data = prepare_data(config)
    assert len(data.split.train) == 14
    assert run_views(config, data) == VIEWS
    monkeypatch.setattr(config_module, "VIEWS_ALL_BELOW_PER_CLASS", 7)
    assert run_views(config, data) == ("plain",)
    chosen = _config(root, on_error="raise")
    chosen.views = ("plain", "vflip")
    assert run_views(chosen, data) == ("plain", "vflip")


def test_confusion_counts_the_classes_of_each_leave_one_out_neighbour():
    # unit vectors at these angles: each one's nearest other vector, by hand: 0 -> 1, 1 -> 0,
    # 2 -> 1 (class 0 each), 3 -> 4 and 4 -> 3 (class 1)
    angles = np.array([0.0, 0.1, 0.25, 1.5, 1.6])
    features = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], axis=1))
    labels = np.array([0, 0, 1, 1, 1])
    confusion = confusion_from_features(features, labels, num_classes=2, k=1)
    assert confusion.tolist() == [[2.0, 0.0], [1.0, 2.0]]


def test_a_confusion_of_the_same_content_is_computed_once(monkeypatch):
    monkeypatch.setattr(prepare, "_CONFUSION_MEMO", prepare.ContentMemo(2))
    calls = []

    def counted(*args):
        calls.append(1)
        return confusion_from_features(*args)

    monkeypatch.setattr(prepare, "confusion_from_features", counted)
    rng = np.random.default_rng(0)
    features, labels = (
        torch.randn(40, 6, generator=torch.Generator().manual_seed(0)),
        rng.integers(0, 3, 40),
    )
    first = remembered_confusion(features, labels, 3)
    np.testing.assert_array_equal(first, confusion_from_features(features, labels, 3))
    first[0, 0] = -1.0  # a copy: the memory keeps its own
    again = remembered_confusion(features.clone(), labels.copy(), 3)
    assert len(calls) == 1 and again[0, 0] >= 0
    relabelled = labels.copy()
    relabelled[5] = (relabelled[5] + 1) % 3
    remembered_confusion(features, relabelled, 3)
    assert len(calls) == 2
