"""Turning image files into uint8 arrays once, and feeding those arrays to PyTorch.

Decoding is never the bottleneck of a run: :func:`cached_images` decodes and resizes every file
once (bilinear resize of the whole image, no crop, as in the papers), stores the uint8 array under
``cache_dir()/images`` and reuses it across runs. Odd files are normalised to RGB (grayscale,
palette, RGBA, CMYK, 16-bit); unreadable ones raise :class:`CorruptImageError` or are skipped and
reported. :class:`ImageArrayDataset` and :func:`train_transform` serve the arrays to the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from rsdml.runtime import progress as progress_bar
from rsdml.storage import atomic_save_numpy, atomic_write_json, cache_dir, content_key

CACHE_VERSION = "images-v1"
# Two to four threads overlap file reads with decoding; PIL releases the GIL in its codecs.
DEFAULT_WORKERS = min(4, (os.cpu_count() or 1) + 1)

OnError = Literal["raise", "skip"]


class CorruptImageError(OSError):
    """An image file could not be decoded; the message names the file."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(
            f"cannot decode image {self.path}: {reason}. Replace or delete the file, or pass "
            "on_error='skip' to leave it out (it is then reported in the skipped list)."
        )


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float single-band image to 8 bits by its dtype's range."""
    array = np.asarray(image)
    if image.mode == "F":
        # Float images: [0, 1] data stays [0, 1]; anything else is clipped to [0, 255].
        scale = 255.0 if float(np.nanmax(array, initial=0.0)) <= 1.0 else 1.0
        values = np.nan_to_num(array.astype(np.float64) * scale)
    else:
        # "I;16*" is 16-bit by definition; PIL also opens 16-bit PNGs as 32-bit "I", whose values
        # then still fit 16 bits. Genuine 32-bit data is scaled by the int32 range (negatives: 0).
        array = array.astype(np.float64)
        sixteen = image.mode.startswith("I;16") or array.max(initial=0) <= 65535
        top = 65535.0 if sixteen else float(2**31 - 1)
        values = np.clip(array, 0, top) * (255.0 / top)
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB (alpha dropped, palette/CMYK/gray converted, 16-bit scaled)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return _sixteen_bit_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # palette transparency must go through RGBA (PIL warns)
    return image.convert("RGB")


def read_image(path: Path | str, size: int | None = None) -> np.ndarray:
    """Decode one file as an (H, W, 3) uint8 RGB array, bilinearly resized to size x size.

    Raises:
        CorruptImageError: the file is missing, truncated or not an image.
    """
    # No warnings.catch_warnings here: it is not thread-safe, and decode_images calls this from
    # threads. Truncated files raise on load(); palette transparency is handled in to_rgb().
    try:
        with Image.open(path) as opened:
            opened.load()
            image = to_rgb(opened)
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptImageError(path, f"{type(error).__name__}: {error}") from error


def decode_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, list[Path]]:
    """Decode and resize files into one (N, 3, size, size) uint8 array.

    Args:
        files: image paths, in the order of the output rows.
        size: output side length (whole image resized, aspect ratio not kept, no crop).
        on_error: ``"raise"`` a :class:`CorruptImageError` naming the file, or ``"skip"`` it.
        progress: progress bar (None: follow ``RSDML_PROGRESS``).
        workers: decoding threads (default: up to 4).

    Returns:
        The array (rows of skipped files removed) and the list of skipped paths.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    paths = [Path(file) for file in files]

    def decode(path: Path) -> np.ndarray | CorruptImageError:
        try:
            return read_image(path, size)
        except CorruptImageError as error:
            if on_error == "raise":
                raise
            return error

    output = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    keep = np.ones(len(paths), dtype=bool)
    skipped: list[Path] = []
    threads = max(1, workers or DEFAULT_WORKERS)
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        results: Iterable = pool.map(decode, paths) if threads > 1 else map(decode, paths)
        bar = progress_bar(results, desc="decode images", total=len(paths), enabled=progress)
        for row, result in enumerate(bar):
            if isinstance(result, CorruptImageError):
                keep[row] = False
                skipped.append(result.path)
            else:
                output[row] = result.transpose(2, 0, 1)
    finally:
        # On an error, do not decode the thousands of files still queued before raising it.
        pool.shutdown(wait=True, cancel_futures=True)
    if skipped:
        output = output[keep]
    return output, skipped


def _cache_key(paths: Sequence[Path], size: int, on_error: str) -> str:
    fingerprints = []
    for path in paths:
        try:
            stat = path.stat()
            fingerprints.append((str(path.absolute()), stat.st_size, stat.st_mtime_ns))
        except OSError:
            fingerprints.append((str(path.absolute()), -1, -1))
    return content_key(CACHE_VERSION, fingerprints, size, on_error)


def cached_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    mmap: bool = False,
) -> tuple[np.ndarray, list[Path]]:
    """:func:`decode_images` through the on-disk cache (decode once, reuse across runs).

    The cache entry ``cache_dir()/images/<key>.npy`` is keyed by the file paths, their sizes and
    modification times, the output size and ``on_error``, so an edited file invalidates it. Files
    skipped under ``on_error="skip"`` are recorded next to it (``<key>.json``).

    Args:
        files: image paths.
        size: output side length.
        on_error: see :func:`decode_images`.
        progress: progress bar while decoding.
        mmap: memory-map the cached array read-only instead of loading it.

    Returns:
        ``(array, skipped_paths)`` as :func:`decode_images`.
    """
    paths = [Path(file) for file in files]
    key = _cache_key(paths, size, on_error)
    folder = cache_dir() / "images"
    array_path, skipped_path = folder / f"{key}.npy", folder / f"{key}.json"
    if array_path.exists() and skipped_path.exists():
        try:
            skipped = [Path(p) for p in json.loads(skipped_path.read_text())["skipped"]]
            array = np.load(array_path, mmap_mode="r" if mmap else None, allow_pickle=False)
            if array.shape[1:] == (3, size, size) and len(array) + len(skipped) == len(paths):
                return array, skipped
        except (OSError, ValueError, KeyError):
            pass  # an unreadable cache entry is rebuilt below
    array, skipped = decode_images(paths, size, on_error=on_error, progress=progress)
    # The sidecar goes first: the .npy is the completion marker that later calls look for.
    atomic_write_json(skipped_path, {"skipped": [str(p) for p in skipped], "count": len(paths)})
    atomic_save_numpy(array_path, array)
    if mmap:
        return np.load(array_path, mmap_mode="r", allow_pickle=False), skipped
    return array, skipped


class ImageArrayDataset(torch.utils.data.Dataset):
    """A PyTorch dataset over a uint8 (N, 3, S, S) array.

    ``dataset[i]`` is ``(image, label, index)``: the image as a float tensor in [0, 1] after the
    optional ``transform`` (which takes and returns float tensors), its label, and ``indices[i]``
    (default ``i``), the position that memory-based losses use.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray | Sequence[int],
        indices: np.ndarray | Sequence[int] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.indices = (
            np.arange(len(images), dtype=np.int64)
            if indices is None
            else np.asarray(indices, dtype=np.int64)
        )
        if not len(self.images) == len(self.labels) == len(self.indices):
            raise ValueError(
                f"images ({len(self.images)}), labels ({len(self.labels)}) and indices "
                f"({len(self.indices)}) must have the same length"
            )
        self.transform = transform

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int, int]:
        """``(float image in [0, 1], label, index)`` of row ``item``."""
        image = torch.from_numpy(np.array(self.images[item], dtype=np.float32)) / 255.0
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[item]), int(self.indices[item])


def train_transform(size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The papers' training augmentation on float image tensors (C, H, W) or batches.

    Resize to size x size (a no-op when already that size), RandomGrayscale(p=0.2),
    ColorJitter(0.4, 0.4, 0.4, 0.4), RandomHorizontalFlip(p=0.5) -- the order of the Kang et al.
    code. ImageNet normalisation is left to the backbone.
    """
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize((size, size), antialias=True),
            v2.RandomGrayscale(p=0.2),
            v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.4),
            v2.RandomHorizontalFlip(p=0.5),
        ]
    )
