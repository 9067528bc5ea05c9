"""Turning image files into uint8 arrays once, and feeding those arrays to PyTorch.

Decoding is never the bottleneck of a run: :func:`cached_images` decodes and resizes every file
once (bilinear resize of the whole image, no crop, as in the papers), stores the uint8 array under
``cache_dir()/images`` with a checksum that every load verifies, and reuses it across runs. Odd
files are normalised to RGB (grayscale, palette, RGBA, CMYK, 16-bit); unreadable ones raise
:class:`CorruptImageError` or are skipped and reported. Images above Pillow's decompression-bomb
limit (about 179 megapixels) are refused unless ``$RSDML_MAX_IMAGE_PIXELS`` allows them.
:class:`ImageArrayDataset` and :func:`train_transform` serve the arrays to the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from rsdml.errors import UserError, brief
from rsdml.runtime import progress as progress_bar
from rsdml.storage import (
    array_checksum,
    atomic_save_numpy,
    atomic_write_json,
    cache_subdir,
    content_key,
    note,
    writing_cache,
)

# v2: the sidecar holds a checksum of the array, verified on every load.
CACHE_VERSION = "images-v2"
# Two to four threads overlap file reads with decoding; PIL releases the GIL in its codecs.
DEFAULT_WORKERS = min(4, (os.cpu_count() or 1) + 1)
MAX_PIXELS_ENV = "RSDML_MAX_IMAGE_PIXELS"
SKIP_HINT = "--dataset-option on_error=skip (in Python: on_error='skip')"

OnError = Literal["raise", "skip"]


class ImageOptionError(UserError, ValueError):
    """An image-reading option (``on_error``, ``$RSDML_MAX_IMAGE_PIXELS``) has a bad value."""


class CorruptImageError(UserError, OSError):
    """An image file could not be decoded; the message names the file and the fix."""

    def __init__(self, path: Path | str, reason: str, fix: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        fix = fix or "replace or delete the file"
        super().__init__(
            f"cannot decode image {self.path}: {reason}. To fix: {fix}, or leave it out with "
            f"{SKIP_HINT}; skipped files are counted on stderr and listed in the run's split.json."
        )


class ImageTooLargeError(CorruptImageError):
    """An image has more pixels than the decompression-bomb limit allows."""


def check_on_error(on_error: object) -> OnError:
    """Return ``on_error`` if it is ``"raise"`` or ``"skip"``; raise :class:`ImageOptionError` otherwise."""
    if on_error not in ("raise", "skip"):
        raise ImageOptionError(
            f"on_error must be 'raise' or 'skip', got {on_error!r}; e.g. "
            "--dataset-option on_error=skip leaves unreadable images out"
        )
    return on_error  # type: ignore[return-value]


def _pixel_limit_setting() -> tuple[bool, int | None]:
    """``(set, limit)`` from ``$RSDML_MAX_IMAGE_PIXELS``, the one place that reads it."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return False, None
    if raw.lower() == "none":
        return True, None
    try:
        number = float(raw)  # 2e8 as well as 200000000
    except ValueError:
        number = -1.0
    value = int(number) if number.is_integer() else -1
    if value < 0:
        raise ImageOptionError(
            f"{MAX_PIXELS_ENV}={raw!r} is not a number of pixels; set it to a positive integer "
            f"(e.g. {MAX_PIXELS_ENV}=400000000) or to 0 or 'none' for no limit"
        )
    return True, value or None


def max_image_pixels() -> int | None:
    """The largest image (in pixels) that rsdml decodes; None: no limit.

    ``$RSDML_MAX_IMAGE_PIXELS`` (a number; ``0`` or ``none``: no limit) when set, else the size
    above which Pillow's decompression-bomb guard refuses an image (about 179 megapixels).

    Raises:
        ImageOptionError: the variable is neither a non-negative integer nor ``none``.
    """
    explicit, limit = _pixel_limit_setting()
    if explicit:
        return limit
    pillow = Image.MAX_IMAGE_PIXELS
    return None if pillow is None else 2 * int(pillow)  # Pillow refuses above twice its limit


def _open_limited(path: Path | str) -> Image.Image:
    """``Image.open`` under the pixel limit of :func:`max_image_pixels`, with a message naming it."""
    explicit, limit = _pixel_limit_setting()
    if explicit:
        # The user chose the limit: Pillow's own guard (a warning above its limit, an error above
        # twice it) would override the choice, so rsdml checks the size itself below. Every
        # thread writes the same value, so the shared global is safe to set.
        Image.MAX_IMAGE_PIXELS = None
    fix = (
        f"set {MAX_PIXELS_ENV} to a larger number of pixels (0 or 'none': no limit) if you trust "
        "the file"
    )
    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(path, str(error).rstrip("."), fix) from error
    if explicit and limit is not None and opened.width * opened.height > limit:
        pixels = opened.width * opened.height
        opened.close()
        raise ImageTooLargeError(path, f"{pixels} pixels exceed {MAX_PIXELS_ENV}={limit}", fix)
    return opened


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
        ImageTooLargeError: the image has more pixels than :func:`max_image_pixels` allows.
    """
    # No warnings.catch_warnings here: it is not thread-safe, and decode_images calls this from
    # threads. Truncated files raise on load(); palette transparency is handled in to_rgb().
    try:
        with _open_limited(path) as opened:
            opened.load()
            image = to_rgb(opened)
            if size is not None and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).copy()
    except CorruptImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptImageError(path, brief(error)) from error


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
    check_on_error(on_error)
    max_image_pixels()  # a bad setting fails here once, not once per file in the threads
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


def image_cache_key(files: Sequence[Path | str], size: int, on_error: OnError = "raise") -> str:
    """The identity of the decoded images of ``files``: their paths, byte sizes and modification
    times, the output size and ``on_error``.

    It names the decoded-image cache entry, and every cache derived from those images (frozen
    features) includes it in its own key, so replacing an image invalidates them all.
    """
    fingerprints = []
    for file in files:
        path = Path(file)
        try:
            stat = path.stat()
            fingerprints.append((str(path.absolute()), stat.st_size, stat.st_mtime_ns))
        except OSError:
            fingerprints.append((str(path.absolute()), -1, -1))
    # Which files get skipped depends on the pixel limit; with on_error="raise" nothing is cached
    # when one is refused, so the limit matters to the key only when skipping.
    limit = max_image_pixels() if on_error == "skip" else None
    return content_key(CACHE_VERSION, fingerprints, size, on_error, limit)


@dataclass(frozen=True)
class CachedImages:
    """Decoded images with the skipped files and the cache key (:func:`image_cache_key`)."""

    array: np.ndarray
    skipped: list[Path]
    key: str


def _read_cache_entry(
    array_path: Path, sidecar_path: Path, count: int, size: int, mmap: bool
) -> tuple[np.ndarray, list[Path]] | None:
    """A verified cache entry, or None (with a note on stderr when it is damaged)."""
    if not array_path.exists():
        return None  # absent, or a write that was killed before its final rename: rebuilt quietly
    try:
        meta = json.loads(sidecar_path.read_text())
        skipped = [Path(p) for p in meta["skipped"]]
        checksum = meta["checksum"]
        array = np.load(array_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        note(f"ignoring damaged image cache {array_path} ({brief(error)}); decoding again")
        return None
    expected = (count - len(skipped), 3, size, size)
    if array.shape != expected or array.dtype != np.uint8:
        problem = f"holds {array.shape} {array.dtype}, expected {expected} uint8"
    elif array_checksum(array) != checksum:
        problem = f"its content does not match the checksum in {sidecar_path.name}"
    else:
        return array, skipped
    del array  # release a memory map before the file is replaced
    note(f"ignoring damaged image cache {array_path}: {problem}; decoding again")
    return None


def load_cached_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    mmap: bool = False,
) -> CachedImages:
    """:func:`decode_images` through the on-disk cache (decode once, reuse across runs).

    The cache entry ``cache_dir()/images/<key>.npy`` is named by :func:`image_cache_key`, so an
    edited or replaced file invalidates it. Its sidecar ``<key>.json`` records the files skipped
    under ``on_error="skip"`` and a SHA-256 checksum of the array, verified on every load (also
    when memory-mapped): a damaged entry is reported on stderr and decoded again, never used.

    Args:
        files: image paths.
        size: output side length.
        on_error: see :func:`decode_images`.
        progress: progress bar while decoding.
        mmap: memory-map the cached array read-only instead of loading it.

    Raises:
        CorruptImageError: an unreadable file under ``on_error="raise"``.
        CacheNotWritable: the cache folder cannot be written.
    """
    check_on_error(on_error)
    paths = [Path(file) for file in files]
    key = image_cache_key(paths, size, on_error)
    folder = cache_subdir("images")
    array_path, sidecar_path = folder / f"{key}.npy", folder / f"{key}.json"
    cached = _read_cache_entry(array_path, sidecar_path, len(paths), size, mmap)
    if cached is not None:
        return CachedImages(cached[0], cached[1], key)
    array, skipped = decode_images(paths, size, on_error=on_error, progress=progress)
    meta = {
        "skipped": [str(p) for p in skipped],
        "count": len(paths),
        "shape": list(array.shape),
        "checksum": array_checksum(array),
    }
    with writing_cache(folder):
        # The sidecar goes first: the .npy is the completion marker that later calls look for.
        atomic_write_json(sidecar_path, meta)
        atomic_save_numpy(array_path, array)
    if mmap:
        array = np.load(array_path, mmap_mode="r", allow_pickle=False)
    return CachedImages(array, skipped, key)


def cached_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    mmap: bool = False,
) -> tuple[np.ndarray, list[Path]]:
    """``(array, skipped_paths)`` of :func:`load_cached_images` (which also gives the cache key)."""
    loaded = load_cached_images(files, size, on_error=on_error, progress=progress, mmap=mmap)
    return loaded.array, loaded.skipped


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
