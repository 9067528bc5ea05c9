"""The frozen-feature reference (``rsdml embed-eval``): it follows replaced images and skips
unreadable ones when asked."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch import nn

import rsdml.reference as reference
import rsdml.train.prepare as prepare

SIZE = 8


@pytest.fixture
def trunk(tmp_path, monkeypatch, flatten_backbone) -> nn.Module:
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")
    shared = flatten_backbone(SIZE)
    # the backbone is built where the archive's features are computed (archive_features)
    monkeypatch.setattr(prepare, "defer_backbone", lambda *args, **kwargs: shared)
    return shared.trunk


def _write_tree(root: Path, seed: int) -> list[Path]:
    # class brightness differs, so the features separate the classes
    rng = np.random.default_rng(seed)
    files = []
    for label, name in enumerate(("farm", "port")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(10):
            path = root / name / f"{name}_{index:02d}.png"
            low = 120 * label if seed == 0 else 0
            pixels = rng.integers(low, low + 136, (SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            files.append(path)
    return files


def _evaluate(root: Path, **options) -> dict[str, float]:
    return reference.evaluate_backbone(
        "folder", "fake", root=root, image_size=SIZE, device="cpu", dataset_options=options
    )


def test_replaced_images_are_embedded_again(tmp_path, trunk, monkeypatch):
    root = tmp_path / "scenes"
    files = _write_tree(root, seed=0)
    _evaluate(root)
    assert trunk.seen == 20
    _evaluate(root)
    assert trunk.seen == 20  # cached

    _write_tree(root, seed=1)  # same names, other images
    for path in files:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    replaced = _evaluate(root)
    assert trunk.seen == 40  # not the features of the images that are gone
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "empty-cache"))
    assert replaced == _evaluate(root)


def test_on_error_skip_is_a_dataset_option(tmp_path, trunk, capsys):
    root = tmp_path / "scenes"
    files = _write_tree(root, seed=0)
    files[2].write_bytes(b"not an image")
    metrics = _evaluate(root, on_error="skip")
    assert trunk.seen == 19 and metrics
    assert "skipped 1 of 20 image files" in capsys.readouterr().err
