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
from rsdml.train import TrainConfig, prepare_data
from rsdml.train.inputs import plain_features
from rsdml.train.prepare import load_run_images

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
