"""rsdml.models.engines: which engine computes frozen features, the exported-graph cache, and
every installed engine's agreement with torch.

The choice rules are tested with the installed set simulated, so they run everywhere. Tests that
run an engine are marked ``engines`` (tests/conftest.py lets them see the real installation) and
skip where it is missing -- unless ``RSDML_REQUIRE_ENGINES`` names it (CI does, after installing
it), so a CI run without the engine fails instead of passing vacuously.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rsdml.models import (
    IMAGENET_PREPROCESSING,
    INCEPTION_PREPROCESSING,
    Backbone,
    DeferredBackbone,
    Preprocessing,
    create_backbone,
    engines,
    extract_features,
)
from rsdml.models.engines import (
    CPU_ENGINES,
    EngineError,
    choose_engine,
    export_graph,
    graph_path,
    open_engine,
)
from rsdml.train import TrainConfig
from rsdml.train.config import ConfigError

CPU = torch.device("cpu")
REQUIRED = [name for name in os.environ.get("RSDML_REQUIRE_ENGINES", "").split(",") if name]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")
    engines._noted.clear()


def _installed(engine: str) -> None:
    """Skip unless ``engine`` is installed; fail if CI said it must be."""
    if engine in REQUIRED:
        assert engines.engine_installed(engine), f"RSDML_REQUIRE_ENGINES names {engine}"
    elif not engines.engine_installed(engine):
        pytest.skip(f"{engine} is not installed")


def _simulate(monkeypatch, *installed: str) -> None:
    monkeypatch.setattr(engines, "engine_installed", lambda name: name in ("torch", *installed))


# --- the choice -----------------------------------------------------------------------------


def test_auto_takes_the_first_installed_cpu_engine(monkeypatch):
    _simulate(monkeypatch, "onnxruntime", "openvino")
    assert choose_engine("auto", CPU) == CPU_ENGINES[0] == "onnxruntime"
    _simulate(monkeypatch, "openvino")
    assert choose_engine("auto", CPU) == "openvino"


def test_auto_without_an_engine_falls_back_to_torch_with_one_note(monkeypatch, capsys):
    _simulate(monkeypatch)
    assert choose_engine("auto", CPU) == "torch"
    assert choose_engine("auto", CPU) == "torch"
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install onnxruntime" in error


def test_a_requested_engine_that_is_missing_falls_back_with_a_note(monkeypatch, capsys):
    _simulate(monkeypatch, "onnxruntime")
    assert choose_engine("openvino", CPU) == "torch"
    assert "pip install openvino" in capsys.readouterr().err
    assert choose_engine("onnxruntime", CPU) == "onnxruntime"
    assert choose_engine("torch", CPU) == "torch"


def test_a_gpu_takes_torch_and_refuses_cpu_engines(monkeypatch):
    _simulate(monkeypatch, "onnxruntime")
    gpu = torch.device("cuda")
    assert choose_engine("auto", gpu) == "torch"
    with pytest.raises(EngineError, match="--device cpu"):
        choose_engine("onnxruntime", gpu)


def test_an_unknown_engine_is_named_with_the_choices():
    with pytest.raises(EngineError, match="did you mean 'onnxruntime'.*auto, torch"):
        choose_engine("onnxrutime", CPU)


def test_the_engine_is_a_checked_option_outside_the_run_identity():
    assert TrainConfig(engine="torch").key() == TrainConfig(engine="onnxruntime").key()
    with pytest.raises(ConfigError, match="engine must be one of"):
        TrainConfig(engine="tensorrt").resolved()


# --- engines at work (marked: they see the real installation) -------------------------------


class _SmallNet(nn.Module):
    """A convolution, a non-linearity and a pool: enough graph to go wrong in an exporter."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        with torch.no_grad():  # same weights in every instance, as weights_id "small-1" says
            for parameter in self.conv.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def _small_backbone(
    weights_id: str = "small-1", preprocessing: Preprocessing | None = None
) -> Backbone:
    return Backbone("small", _SmallNet(), 8, weights_id, preprocessing=preprocessing)


def _images(count: int = 7, size: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 3, size, size), dtype=np.uint8)


@pytest.mark.engines
@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_every_engine_agrees_with_torch_in_every_view(engine):
    _installed(engine)
    backbone, images = _small_backbone(), _images()
    for view in ("plain", "hflip", "rot90", "transpose"):
        expected = extract_features(backbone, images, engine="torch", view=view, batch_size=3)
        actual = extract_features(backbone, images, engine=engine, view=view, batch_size=3)
        assert actual.dtype == torch.float32 and actual.shape == expected.shape
        assert (actual - expected).abs().max() <= 1e-4, (engine, view)


@pytest.mark.engines
@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_engine_features_do_not_depend_on_threads_or_batch_size(engine, monkeypatch):
    # The reason engines may use every core while torch runs on REPRODUCIBLE_THREADS.
    _installed(engine)
    backbone, images = _small_backbone(), _images(count=9)
    monkeypatch.setattr(engines, "engine_threads", lambda: 1)
    one = extract_features(backbone, images, engine=engine, batch_size=9)
    monkeypatch.setattr(engines, "engine_threads", lambda: 2)
    two = extract_features(backbone, images, engine=engine, batch_size=4)
    assert torch.equal(one, two)


@pytest.mark.engines
def test_the_graph_is_exported_once_and_a_deferred_backbone_is_then_never_built(monkeypatch):
    _installed("onnxruntime")
    exports = []
    original = engines._export_bytes
    monkeypatch.setattr(engines, "_export_bytes", lambda *a: exports.append(1) or original(*a))
    first = export_graph(_small_backbone(), 12)
    assert first == graph_path(_small_backbone(), 12) and len(exports) == 1

    def refuse() -> Backbone:
        raise AssertionError("the network was built although its graph is cached")

    deferred = DeferredBackbone("small", "small-1", 8, IMAGENET_PREPROCESSING, factory=refuse)
    with open_engine(deferred, "onnxruntime", CPU, 12) as engine:
        assert engine.run(_images(count=2)).shape == (2, 8)
    assert len(exports) == 1
    # other weights or another input size: another graph
    assert export_graph(_small_backbone("small-2"), 12) != first
    assert export_graph(_small_backbone(), 16) != first
    assert len(exports) == 3


def test_the_graph_key_covers_the_preprocessing():
    imagenet, inception = _small_backbone(), _small_backbone(preprocessing=INCEPTION_PREPROCESSING)
    assert graph_path(imagenet, 12) != graph_path(inception, 12)
    renamed = Preprocessing("renamed", INCEPTION_PREPROCESSING.mean, INCEPTION_PREPROCESSING.std)
    assert graph_path(_small_backbone(preprocessing=renamed), 12) == graph_path(inception, 12)


@pytest.mark.engines
@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_the_graph_bakes_in_the_backbones_own_preprocessing(engine):
    # Each exported graph computes exactly what torch computes with that preprocessing, and the
    # two preprocessings give different features (so a graph of one never stands in for the other).
    _installed(engine)
    images = _images()
    features = {}
    for preprocessing in (IMAGENET_PREPROCESSING, INCEPTION_PREPROCESSING):
        backbone = _small_backbone(preprocessing=preprocessing)
        expected = extract_features(backbone, images, engine="torch")
        actual = extract_features(backbone, images, engine=engine)
        assert (actual - expected).abs().max() <= 1e-4, (engine, preprocessing.name)
        features[preprocessing.name] = actual
    assert (features["imagenet"] - features["inception"]).abs().max() > 1e-2


@pytest.mark.engines
def test_a_damaged_graph_is_exported_again(capsys):
    _installed("onnxruntime")
    path = export_graph(_small_backbone(), 12)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = export_graph(_small_backbone(), 12)
    assert "damaged exported graph" in capsys.readouterr().err
    expected = extract_features(_small_backbone(), _images(), engine="torch")
    actual = extract_features(_small_backbone(), _images(), engine="onnxruntime")
    assert again == path and (actual - expected).abs().max() <= 1e-4


@pytest.mark.engines
def test_the_feature_cache_serves_auto_and_records_who_filled_it():
    from rsdml.models.features import feature_cache_path

    _installed("onnxruntime")
    backbone, images = _small_backbone(), _images()
    path = feature_cache_path(backbone, images.shape, "plain", ("x",))
    first = extract_features(backbone, images, engine="onnxruntime", cache_parts=("x",))
    assert '"engine": "onnxruntime"' in torch.load(path)["meta"]
    # auto takes the cached entry whichever engine filled it: the very same tensor
    assert torch.equal(extract_features(backbone, images, engine="auto", cache_parts=("x",)), first)
    # torch asked for by name recomputes its own (a study pinning torch reproduces to the bit),
    # within the engines' agreement, and the entry then records torch
    own = extract_features(backbone, images, engine="torch", cache_parts=("x",))
    assert (own - first).abs().max() <= 1e-4
    assert '"engine": "torch"' in torch.load(path)["meta"]


# --- real images, the real backbone (CI) -----------------------------------------------------

ROOT = os.environ.get("RSDML_DATA")


def _real_images(size: int) -> np.ndarray:
    from rsdml.data import decode_images, load_scene_list

    files = []
    for dataset, folder in (("ucmerced", "UCMerced_LandUse"), ("eurosat", "2750")):
        if (Path(ROOT) / folder).is_dir():
            scenes = load_scene_list(dataset, ROOT)
            files += list(scenes.files[:: max(1, len(scenes) // 24)][:24])
    return np.asarray(decode_images(files, size, progress=False)[0])


@pytest.mark.slow
@pytest.mark.engines
@pytest.mark.skipif(not ROOT, reason="set RSDML_DATA to the real data folder")
@pytest.mark.parametrize("engine", CPU_ENGINES)
@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite0@inception"])
def test_engines_agree_with_torch_on_real_scenes_with_imagenet_weights(engine, name):
    _installed(engine)
    backbone = create_backbone(name)
    for size in (224, 64):
        images = _real_images(size)
        expected = extract_features(backbone, images, engine="torch")
        actual = extract_features(backbone, images, engine=engine)
        assert (actual - expected).abs().max() <= 1e-4, (engine, size)


@pytest.mark.engines
def test_a_network_the_engine_cannot_take_falls_back_to_torch(monkeypatch, capsys):
    _installed("onnxruntime")

    def fail(*args):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(engines, "_export_bytes", fail)
    backbone, images = _small_backbone(), _images()
    features = extract_features(backbone, images, engine="onnxruntime")
    assert torch.equal(features, extract_features(backbone, images, engine="torch"))
    assert "could not run small (RuntimeError: unsupported operator); using torch" in (
        capsys.readouterr().err
    )
