"""Where frozen features are computed: torch, or the same network exported to an inference engine.

A frozen run's cost before its first step is one backbone forward per image and view. On a CPU,
dedicated inference engines run the exported network several times faster than torch's eager
mode (``benchmarks/features.py`` prints the figures; README, "Speed"), so :func:`choose_engine`
takes, for ``engine="auto"``:

- on CUDA: torch (with bf16/fp16 autocast, :func:`rsdml.runtime.autocast`);
- on the CPU: the first installed of :data:`CPU_ENGINES` (ONNX Runtime, then OpenVINO), else
  torch, with a one-line note saying how to install the faster engine.

Every engine computes the same function: uint8 images (N, 3, S, S) -> float32 pooled features
(N, D), with the conversion to [0, 1] and the backbone's normalisation inside. They agree with
torch to about 1e-5 (``tests/models/test_engines.py`` requires at most 1e-4 on real images), so
the engine is not part of any cache key: features computed by one engine serve every later run,
and the feature cache's metadata records which engine computed them.

The exported ONNX graph is cached like features, under ``cache_dir()/graphs/<key>.onnx``, keyed by
the backbone's name, its ``weights_id``, the values of its input preprocessing (baked into the
graph), the input size and the exporter's version, with a
checksum verified on every load (a damaged graph is exported again). With the graph cached, a
frozen run never builds the torch network at all.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rsdml.errors import UserError, brief, did_you_mean
from rsdml.models.backbones import Backbone, DeferredBackbone
from rsdml.runtime import autocast
from rsdml.storage import (
    array_checksum,
    atomic_write_bytes,
    atomic_write_json,
    cache_subdir,
    content_key,
    note,
    writing_cache,
)

ENGINES = ("torch", "onnxruntime", "openvino")
"""Engines that compute frozen features; ``"auto"`` picks one with :func:`choose_engine`."""
ENGINE_CHOICES = ("auto", *ENGINES)
#: The order ``auto`` tries on a CPU. ONNX Runtime was the fastest in every comparison on the
#: 2-core development machine (README, "Speed"), OpenVINO close behind, both 3-4x torch at 224 px.
CPU_ENGINES = ("onnxruntime", "openvino")
#: The pip packages each optional engine needs: the engine, and onnx for torch's exporter.
ENGINE_PACKAGES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}

# v1: uint8 input, [0, 1] scaling and the backbone's normalisation inside the graph.
# v2: the backbone's input preprocessing (its values, baked into the graph) enters the key.
GRAPH_VERSION = "graph-v2"
OPSET = 17

FeatureFunction = Callable[[np.ndarray], np.ndarray]


class EngineError(UserError, ValueError):
    """An unknown engine name, or a CPU-only engine asked to run on a GPU."""


def engine_installed(engine: str) -> bool:
    """Whether the engine's Python packages can be imported (torch always can)."""
    if engine == "torch":
        return True
    return all(importlib.util.find_spec(package) for package in ENGINE_PACKAGES[engine])


_noted: set[str] = set()


def _note_once(message: str) -> None:
    # A study's every cell and every view would repeat the same line.
    if message not in _noted:
        _noted.add(message)
        note(message)


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is one of :data:`ENGINE_CHOICES`; raise :class:`EngineError` else."""
    if engine not in ENGINE_CHOICES:
        raise EngineError(
            f"unknown engine {engine!r}{did_you_mean(str(engine), ENGINE_CHOICES)}; choose one of "
            f"{', '.join(ENGINE_CHOICES)} (auto: the fastest installed one for the device)"
        )
    return engine


def choose_engine(requested: str, device: torch.device) -> str:
    """The engine that computes features on ``device`` when ``requested`` is asked for.

    A requested engine that is not installed falls back to torch with a one-line note (its
    features agree with the engine's, so the run's numbers stay comparable).

    Raises:
        EngineError: unknown name, or ONNX Runtime / OpenVINO asked for on a CUDA device (they
            run on the CPU here; torch is the engine for a GPU).
    """
    check_engine(requested)
    if device.type != "cpu":
        if requested in CPU_ENGINES:
            raise EngineError(
                f"engine {requested!r} computes features on the CPU, but the device is "
                f"{device}; use --engine auto or --engine torch on a GPU, or --device cpu"
            )
        return "torch"
    if requested == "auto":
        for engine in CPU_ENGINES:
            if engine_installed(engine):
                return engine
        _note_once(
            "no inference engine is installed, so frozen features are computed with torch; "
            "`pip install onnxruntime onnx` makes them about 3x faster on a CPU (README, 'Speed')"
        )
        return "torch"
    if not engine_installed(requested):
        _note_once(
            f"engine {requested!r} is not installed (pip install "
            f"{' '.join(ENGINE_PACKAGES[requested])}); "
            "computing features with torch instead"
        )
        return "torch"
    return requested


def engine_threads() -> int:
    """Threads an inference engine uses: every core this process may run on.

    Unlike torch's (:data:`rsdml.runtime.REPRODUCIBLE_THREADS`), the engines' features do not
    depend on the thread count (``tests/models/test_engines.py`` checks it), so they can use the
    whole machine.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _FromUint8(nn.Module):
    """uint8 images -> the backbone's features: the function every engine computes."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images.float() / 255.0)


@dataclass(frozen=True)
class FeatureEngine:
    """A ready-to-run engine: ``run(uint8 batch (n, 3, S, S)) -> float32 (n, D)``."""

    name: str
    run: FeatureFunction


def graph_path(backbone: Backbone | DeferredBackbone, size: int) -> Path:
    """Where the ONNX graph of ``backbone`` at input ``size`` is cached."""
    key = content_key(
        GRAPH_VERSION,
        backbone.name,
        backbone.weights_id,
        backbone.preprocessing.identity(),
        int(size),
        torch.__version__,
        OPSET,
    )
    return cache_subdir("graphs") / f"{key}.onnx"


# Graphs whose checksum this process verified, with the file's (size, mtime): each of a run's
# views opens the graph again, and hashing it every time would cost more than a small batch.
_verified: dict[Path, tuple[int, int]] = {}


def _graph_is_valid(path: Path) -> bool:
    sidecar = path.with_suffix(".json")
    try:
        stat = path.stat()
    except OSError:
        return False
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return True
    try:
        expected = json.loads(sidecar.read_text())["checksum"]
        actual = _bytes_checksum(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as error:
        note(f"ignoring damaged exported graph {path} ({brief(error)}); exporting it again")
        return False
    if actual != expected:
        note(f"ignoring damaged exported graph {path}: checksum mismatch; exporting it again")
        return False
    _verified[path] = (stat.st_size, stat.st_mtime_ns)
    return True


def export_graph(backbone: Backbone | DeferredBackbone, size: int) -> Path:
    """The cached ONNX graph of ``backbone`` at input ``size``, exported on first use.

    The graph takes uint8 images (batch, 3, size, size) with any batch size and returns the
    pooled features; building a deferred backbone happens only when the graph is not cached.
    """
    path = graph_path(backbone, size)
    if _graph_is_valid(path):
        return path
    network = _network(backbone)
    module = _FromUint8(network).eval()
    example = torch.zeros(2, 3, size, size, dtype=torch.uint8)
    with (
        writing_cache(path.parent),
        torch.inference_mode(),
        _evaluating_on(network, torch.device("cpu")),
    ):
        buffer = _export_bytes(module, example)
        atomic_write_json(
            path.with_suffix(".json"),
            {
                "backbone": network.name,
                "weights_id": network.weights_id,
                "preprocessing": asdict(network.preprocessing),
                "size": int(size),
                "torch": torch.__version__,
                "opset": OPSET,
                "checksum": _bytes_checksum(buffer),
            },
        )
        atomic_write_bytes(path, buffer)
    return path


def _bytes_checksum(buffer: bytes) -> str:
    return array_checksum(np.frombuffer(buffer, dtype=np.uint8))


def _export_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    import io

    stream = io.BytesIO()
    with warnings.catch_warnings():  # tracing warnings about Python control flow: none apply
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            stream,
            input_names=["images"],
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return stream.getvalue()


@contextlib.contextmanager
def _evaluating_on(network: nn.Module, device: torch.device) -> Iterator[None]:
    """The network in eval mode on ``device`` for the body; its device and mode restored after."""
    parameter = next(network.parameters(), None)
    original = parameter.device if parameter is not None else torch.device("cpu")
    was_training = network.training
    network.eval().to(device)
    try:
        yield
    finally:
        network.to(original).train(was_training)


def _network(backbone: Backbone | DeferredBackbone) -> Backbone:
    """The torch network, built now if it was deferred."""
    return backbone.build() if isinstance(backbone, DeferredBackbone) else backbone


@lru_cache(maxsize=4)
def _onnxruntime_session(path: str, threads: int):  # type: ignore[no-untyped-def]
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=4)
def _openvino_model(path: str, threads: int):  # type: ignore[no-untyped-def]
    import openvino

    core = openvino.Core()
    # f32 inference: OpenVINO may otherwise pick bf16 on CPUs that have it, which moves the
    # features by far more than the 1e-4 the engines promise.
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    return core.compile_model(core.read_model(path), "CPU", config)


def _onnxruntime_engine(path: Path) -> FeatureFunction:
    session = _onnxruntime_session(str(path), engine_threads())

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": batch})[0]

    return run


def _openvino_engine(path: Path) -> FeatureFunction:
    compiled = _openvino_model(str(path), engine_threads())
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.array(request.infer({0: batch})[output], dtype=np.float32)

    return run


@contextlib.contextmanager
def open_engine(
    backbone: Backbone | DeferredBackbone, engine: str, device: torch.device, size: int
) -> Iterator[FeatureEngine]:
    """The feature function of ``engine`` (as :func:`choose_engine` resolves it) for images of
    side ``size``; torch moves the backbone to ``device`` for the duration and back afterwards."""
    chosen = choose_engine(engine, device)
    run = _exported_run(chosen, backbone, size) if chosen != "torch" else None
    if run is not None:
        yield FeatureEngine(chosen, run)
        return
    network = _network(backbone)
    with _evaluating_on(network, device):
        yield FeatureEngine("torch", _torch_run(network, device))


def _exported_run(
    engine: str, backbone: Backbone | DeferredBackbone, size: int
) -> FeatureFunction | None:
    """``engine``'s feature function over the exported graph, or None (with a note) where the
    exporter or the engine cannot take the network: torch then computes the same features."""
    opener = _onnxruntime_engine if engine == "onnxruntime" else _openvino_engine
    try:
        return opener(export_graph(backbone, size))
    except UserError:  # the cache folder cannot be written, ...: say so
        raise
    except Exception as error:
        _note_once(
            f"{engine} could not run {backbone.name} ({brief(error)}); using torch for its "
            "features instead"
        )
        return None


def _torch_run(network: Backbone, device: torch.device) -> FeatureFunction:
    def run(batch: np.ndarray) -> np.ndarray:
        # uint8 travels to the device (4x less traffic than float) and is converted there.
        images = torch.from_numpy(batch).to(device, non_blocking=True)
        images = images.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(device):
            return network(images).float().cpu().numpy()

    return run
