"""Frozen-backbone features: computed once per (backbone, weights, images, view), then read from disk.

In frozen-backbone mode only the embedding head trains, so the backbone's pooled features of every
image can be computed once and reused by every method, seed and epoch. Augmentation is replaced by
a few deterministic geometric views (flips, right-angle rotations, transpose: the symmetries of an
overhead scene), each of which gets its own cached feature matrix.

Cache files live at ``cache_dir()/features/<content_key>.pt``; the key covers the backbone name, its
``weights_id``, the values of its input preprocessing (mean/std, :meth:`Preprocessing.identity`),
the caller's ``cache_parts`` (the training engine passes the decoded-image cache
key, so replaced images invalidate their features), the view and the image array's shape. They are
written atomically, so an interrupted run never leaves a truncated file, and carry a checksum of
the features that every load verifies: a damaged file is reported on stderr and recomputed.
Which engine computes them (torch, ONNX Runtime, OpenVINO) is :mod:`rsdml.models.engines`' choice;
it is recorded in the metadata but is not part of the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rsdml.data.images import DecodedImages
from rsdml.errors import brief
from rsdml.models.backbones import Backbone, DeferredBackbone
from rsdml.models.engines import FeatureEngine, choose_engine, open_engine
from rsdml.runtime import progress as progress_bar
from rsdml.runtime import resolve_device
from rsdml.storage import (
    array_checksum,
    atomic_save_torch,
    cache_subdir,
    content_key,
    note,
    writing_cache,
)

# v2: the metadata holds a checksum of the features, verified on every load.
# v3: the backbone's input preprocessing (its values) enters the key, so features computed with
# one normalisation are never read for another; entries of v2, which lacked it, are never read.
CACHE_VERSION = "features-v3"

VIEWS = ("plain", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose")
"""Deterministic geometric views. On images (..., H, W): ``hflip`` mirrors left-right (width),
``vflip`` top-bottom (height), ``rotK`` rotates by K degrees counter-clockwise
(``torch.rot90(x, K // 90, dims=(-2, -1))``), ``transpose`` swaps height and width."""


def apply_view(images: Tensor, view: str) -> Tensor:
    """Apply one of :data:`VIEWS` to images shaped (..., H, W)."""
    if view == "plain":
        return images
    if view == "hflip":
        return images.flip(-1)
    if view == "vflip":
        return images.flip(-2)
    if view in ("rot90", "rot180", "rot270"):
        return torch.rot90(images, int(view[3:]) // 90, dims=(-2, -1))
    if view == "transpose":
        return images.transpose(-2, -1)
    raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")


def _check_images(images: np.ndarray | Tensor | DecodedImages) -> np.ndarray | DecodedImages:
    """Return the images as a uint8 (N, 3, S, S) numpy array (a view, no copy when possible) or
    the image cache's :class:`DecodedImages` (read batch by batch at its input size)."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    if not isinstance(images, (np.ndarray, DecodedImages)):
        raise TypeError(
            f"images must be a numpy array, a tensor or DecodedImages; got {type(images).__name__}"
        )
    if images.dtype != np.uint8:
        raise TypeError(
            f"images must be uint8 in 0..255 (as rsdml.data.cached_images returns); got "
            f"{images.dtype} -- convert with (x * 255).round().astype(np.uint8)"
        )
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be shaped (N, 3, H, W); got {images.shape}")
    return images


def feature_cache_path(
    backbone: Backbone | DeferredBackbone,
    shape: Sequence[int],
    view: str,
    cache_parts: Sequence[Any],
) -> Path:
    """Where :func:`extract_features` caches the features of one image array and view."""
    key = content_key(
        CACHE_VERSION,
        backbone.name,
        backbone.weights_id,
        backbone.preprocessing.identity(),
        list(cache_parts),
        view,
        [int(s) for s in shape],
    )
    return cache_subdir("features") / f"{key}.pt"


def features_cached(
    backbone: Backbone | DeferredBackbone,
    shape: Sequence[int],
    view: str,
    cache_parts: Sequence[Any],
) -> bool:
    """Whether :func:`extract_features` finds these features on disk (a damaged file counts as
    cached here; it is recomputed when read)."""
    return feature_cache_path(backbone, shape, view, cache_parts).is_file()


def _read_cache(path: Path, expected: tuple[int, int], engine: str) -> Tensor | None:
    """The cached features, or None when absent, damaged or another engine's (then they are
    recomputed).

    ``engine="auto"`` takes features whichever engine computed them (they agree to 1e-4). An
    engine asked for by name only takes its own: a study that pins ``engine: torch`` reproduces
    its numbers to the last bit, which another engine's features would not.
    """
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        features = stored["features"]
        meta = json.loads(stored["meta"])
        checksum = meta["checksum"]
    except Exception as err:  # a foreign or damaged file: recompute rather than fail
        note(f"ignoring damaged feature cache {path} ({brief(err)}); recomputing")
        return None
    if engine != "auto" and meta.get("engine") != engine:
        note(
            f"the cached features in {path} were computed with {meta.get('engine')}, not the "
            f"requested {engine}; recomputing them with {engine}"
        )
        return None
    if not isinstance(features, Tensor):
        problem = f"holds a {type(features).__name__}, not a tensor"
    elif tuple(features.shape) != expected or features.dtype != torch.float32:
        problem = f"holds {tuple(features.shape)} {features.dtype}, expected {expected} float32"
    elif array_checksum(features.numpy()) != checksum:
        problem = "its features do not match the checksum in its metadata"
    else:
        return features
    note(f"ignoring damaged feature cache {path}: {problem}; recomputing")
    return None


def _read_batch(images: np.ndarray | DecodedImages, start: int, stop: int, view: str) -> np.ndarray:
    """Rows ``start:stop`` at the input size in ``view``, as a C-contiguous uint8 array.

    The view is applied to the uint8 pixels, before any conversion (flips commute with it).
    """
    rows = images[start:stop]  # DecodedImages resize a native-size cache here
    # A slice of a read-only memory map is copied: torch refuses to wrap unwritable memory.
    rows = np.require(rows, requirements=["W"])
    return np.ascontiguousarray(apply_view(torch.from_numpy(rows), view).numpy())


def _compute(
    engine: FeatureEngine,
    images: np.ndarray | DecodedImages,
    batch_size: int,
    view: str,
    progress: bool | None,
    description: str,
    feature_dim: int,
) -> Tensor:
    count = images.shape[0]
    features = torch.empty(count, feature_dim, dtype=torch.float32)
    # Counting images (not batches) makes the bar show images/s.
    ticks: Iterator[int] = iter(
        progress_bar(range(count), desc=description, total=count, enabled=progress, unit="img")
    )
    bounds = [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
    # The next batch is read (resized, when the image cache holds native-size images) while the
    # engine runs this one: PIL and the engines release the GIL.
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(_read_batch, images, *bounds[0], view) if bounds else None
        for number, (start, stop) in enumerate(bounds):
            batch = upcoming.result()
            if number + 1 < len(bounds):
                upcoming = reader.submit(_read_batch, images, *bounds[number + 1], view)
            output = engine.run(batch)
            if output.shape != (stop - start, feature_dim):
                raise RuntimeError(
                    f"{description} returned {tuple(output.shape)} for a batch of "
                    f"{stop - start}; expected (batch, {feature_dim})"
                )
            features[start:stop].copy_(torch.from_numpy(output))
            for _ in islice(ticks, stop - start):
                pass
    for _ in ticks:  # closes the bar
        pass
    return features


def extract_features(
    backbone: Backbone | DeferredBackbone,
    images: np.ndarray | Tensor | DecodedImages,
    *,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    view: str = "plain",
    cache_parts: Sequence[Any] | None = None,
    progress: bool | None = None,
    engine: str = "auto",
) -> Tensor:
    """Pooled backbone features of uint8 images, cached on disk when ``cache_parts`` is given.

    The features are computed by ``engine`` (:mod:`rsdml.models.engines`: on a CPU an installed
    inference engine over the exported network, else torch; on CUDA torch with bf16/fp16
    autocast); a torch backbone runs in eval mode under ``torch.inference_mode`` and is returned
    to its original device and mode afterwards. Features are not normalised.

    Args:
        backbone: the feature extractor; its ``name``, ``weights_id`` and ``preprocessing`` enter
            the cache key, so a backbone whose weights changed after creation (fine-tuned) needs a
            new ``weights_id``.
        images: uint8 images (N, 3, S, S), values 0..255: an array (a memory map is fine) or
            the :class:`~rsdml.data.DecodedImages` of the image cache, read at its input size.
        batch_size: images per forward pass.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        view: one of :data:`VIEWS`, applied to every image before the backbone.
        cache_parts: JSON-able values identifying the images; they must change whenever the
            images do (the engine passes the decoded-image cache key of
            :func:`rsdml.data.images.image_cache_key`); None disables the cache.
        progress: show a progress bar (None: follow ``RSDML_PROGRESS``).
        engine: ``"auto"``, ``"torch"``, ``"onnxruntime"`` or ``"openvino"``
            (:func:`rsdml.models.engines.choose_engine`); not part of the cache key, since every
            engine's features agree with torch's to 1e-4, but an engine named here recomputes
            features that another engine cached.

    Returns:
        float32 CPU tensor (N, backbone.feature_dim).

    Raises:
        TypeError / ValueError: images not uint8 (N, 3, H, W), unknown view, bad batch size.
        EngineError: unknown engine, or a CPU-only engine on a GPU device.
        CacheNotWritable: the feature cache folder cannot be written.
    """
    array = _check_images(images)
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    expected = (array.shape[0], backbone.feature_dim)
    path = None
    target = resolve_device(device)
    if cache_parts is not None:
        path = feature_cache_path(backbone, array.shape, view, cache_parts)
        # an engine named but not installed falls back to torch: torch's features are its own
        wanted = "auto" if engine == "auto" else choose_engine(engine, target)
        cached = _read_cache(path, expected, wanted)
        if cached is not None:
            return cached
    with open_engine(backbone, engine, target, array.shape[-1]) as runner:
        description = f"features {backbone.name} [{view}, {runner.name}]"
        features = _compute(
            runner, array, batch_size, view, progress, description, backbone.feature_dim
        )
    if path is not None:
        meta = {
            "backbone": backbone.name,
            "weights_id": backbone.weights_id,
            "preprocessing": asdict(backbone.preprocessing),
            "cache_parts": list(cache_parts),
            "view": view,
            "shape": list(array.shape),
            "engine": runner.name,
            "checksum": array_checksum(features.numpy()),
        }
        with writing_cache(path.parent):
            atomic_save_torch(path, {"features": features, "meta": json.dumps(meta, default=str)})
    return features
