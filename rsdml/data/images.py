"""Turning image files into uint8 arrays once, and feeding those arrays to PyTorch.

Decoding is never the bottleneck of a run: :func:`cached_images` decodes every file once, stores
the uint8 array under ``cache_dir()/images`` with a checksum that every load verifies, and reuses
it across runs. A model reads the images at its input size ``size`` (bilinear resize of the whole
image, no crop, as in the papers). Odd files are normalised to RGB (grayscale, palette, RGBA, CMYK,
16-bit); unreadable ones raise :class:`CorruptImageError` or are skipped and reported. Images
above Pillow's decompression-bomb limit (about 179 megapixels) are refused unless
``$RSDML_MAX_IMAGE_PIXELS`` allows them. :class:`ImageArrayDataset` and :func:`train_transform`
serve the arrays to the model.

The stored side. If every decoded image is square with one side ``s <= size`` (EuroSAT: 64 px),
the cache holds the decoded pixels themselves, (N, 3, s, s), and :class:`DecodedImages` resizes
the rows a consumer reads to ``size`` per batch: 330 MB for EuroSAT instead of 4 GB at 224 px.
Otherwise (mixed sizes, non-square images, or images larger than ``size``, such as UC Merced's
256 px at 224) it holds (N, 3, size, size), resized while decoding. Either way a row read at
``size`` is byte-identical to :func:`read_image` ``(path, size)``: the same PIL bilinear resize of
the same decoded RGB pixels, done later. :func:`decode_images` decides while streaming: it starts
with the first image's side and, when a later image breaks the pattern, switches to ``size`` and
resizes the rows already stored (the exact decoded pixels, so nothing is lost).
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
# v3: images are stored at their native side when it allows (module docstring); the sidecar
# records the stored side.
CACHE_VERSION = "images-v3"
# Two to four threads overlap file reads with decoding; PIL releases the GIL in its codecs.
DEFAULT_WORKERS = min(4, (os.cpu_count() or 1) + 1)
# Threads that resize the rows of one read, and the fewest rows worth a thread of their own.
RESIZE_WORKERS = min(4, os.cpu_count() or 1)
RESIZE_ROWS_PER_THREAD = 16
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
    return _read(path, size, keep_small_squares=False)


def _read(path: Path | str, size: int | None, keep_small_squares: bool) -> np.ndarray:
    """:func:`read_image`; with ``keep_small_squares``, a square image of side <= ``size`` is
    returned as decoded (the caller resizes it later, to the same bytes)."""
    # No warnings.catch_warnings here: it is not thread-safe, and decode_images calls this from
    # threads. Truncated files raise on load(); palette transparency is handled in to_rgb().
    try:
        with _open_limited(path) as opened:
            opened.load()
            image = to_rgb(opened)
            width, height = image.size
            kept = keep_small_squares and size is not None and width == height <= size
            if size is not None and (width, height) != (size, size) and not kept:
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8).copy()
    except CorruptImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptImageError(path, brief(error)) from error


def _resize_pixels(pixels: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) uint8 image resized to (size, size, 3) exactly as :func:`read_image` does."""
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def resize_rows(
    rows: np.ndarray, size: int, *, out: np.ndarray | None = None, workers: int | None = None
) -> np.ndarray:
    """Resize uint8 image rows (N, 3, s, s) to (N, 3, size, size), each as :func:`read_image`
    resizes the decoded image (PIL bilinear), so the bytes are the same.

    Args:
        rows: the decoded images, channels first (a memory map is fine).
        size: output side length.
        out: where to write (N, 3, size, size); a new array when None.
        workers: threads (default :data:`RESIZE_WORKERS`, at most one per
            :data:`RESIZE_ROWS_PER_THREAD` rows); PIL releases the GIL while resampling.

    Returns:
        ``out``, or the new array.
    """
    count = len(rows)
    if out is None:
        out = np.empty((count, 3, size, size), dtype=np.uint8)

    def resize(span: range) -> None:
        for row in span:
            out[row] = _resize_pixels(rows[row].transpose(1, 2, 0), size).transpose(2, 0, 1)

    threads = max(1, min(workers or RESIZE_WORKERS, count // RESIZE_ROWS_PER_THREAD))
    if threads == 1:
        resize(range(count))
        return out
    bounds = np.linspace(0, count, threads + 1).astype(int).tolist()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(resize, map(range, bounds[:-1], bounds[1:])))
    return out


class DecodedImages:
    """Decoded uint8 images stored at side ``s``, read at the model's input side ``size``.

    ``stored`` is the (N, 3, s, s) array (possibly a read-only memory map); indexing returns new
    uint8 arrays of images size x size, resized per read when ``s != size`` (module docstring), so
    the object stands in for the (N, 3, size, size) array of earlier rsdml versions: ``shape``,
    ``dtype``, ``ndim``, ``len`` and ``np.asarray`` (which materialises every row) say what that
    array would. Rows only: ``images[i]``, ``images[a:b]``, ``images[index_array]``,
    ``images[boolean_mask]``; :meth:`take` selects rows without resizing them.
    """

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, stored: np.ndarray, size: int) -> None:
        shape = getattr(stored, "shape", None)
        if (
            not isinstance(stored, np.ndarray)
            or stored.dtype != np.uint8
            or stored.ndim != 4
            or shape[1] != 3
            or shape[2] != shape[3]
        ):
            described = f"{type(stored).__name__} {shape} {getattr(stored, 'dtype', '')}"
            raise ValueError(f"stored images must be a uint8 (N, 3, s, s) array; got {described}")
        if int(size) < 1:
            raise ValueError(f"size must be a positive integer, got {size}")
        self.stored = stored
        self.size = int(size)

    @property
    def side(self) -> int:
        """The stored side ``s``."""
        return int(self.stored.shape[2])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(N, 3, size, size)``: the shape of the images as read."""
        return (len(self.stored), 3, self.size, self.size)

    def __len__(self) -> int:
        """Number of images."""
        return len(self.stored)

    def __repr__(self) -> str:
        return f"DecodedImages({len(self)} images stored at {self.side} px, read at {self.size} px)"

    def _rows(self, item: object) -> tuple[np.ndarray, bool, bool]:
        """``(stored rows as (n, 3, s, s), single row?, already a copy?)`` of a row index."""
        # A plain ndarray view, so that indexing a memory map gives plain arrays.
        stored = self.stored.view(np.ndarray)
        if isinstance(item, slice):
            return stored[item], False, False
        if isinstance(item, tuple) or item is None or item is Ellipsis:
            raise TypeError(
                "DecodedImages are indexed by rows only (an int, a slice, an integer or boolean "
                f"index array); got {item!r}. Index the rows first: images[rows][..., y, x]"
            )
        index = np.asarray(item)
        if index.dtype == bool and index.ndim == 1:
            return stored[index], False, True
        if index.size == 0 and index.ndim == 1:
            index = index.astype(np.intp)  # np.asarray([]) is float64
        if index.dtype.kind not in "iu" or index.ndim > 1:
            raise IndexError(
                "DecodedImages rows are selected by an int, a slice, or a 1-D integer or boolean "
                f"array; got {index.dtype} of shape {index.shape}"
            )
        if index.ndim == 0:
            row = int(index)
            if not -len(stored) <= row < len(stored):
                raise IndexError(f"row {row} is out of range for {len(stored)} images")
            return stored[row][None], True, False
        return stored[index], False, True

    def __getitem__(self, item: object) -> np.ndarray:
        """The rows ``item`` as a new uint8 array at the target size, like ``array[item]``."""
        rows, single, copied = self._rows(item)
        if self.side != self.size:
            rows = resize_rows(rows, self.size)
        elif not copied:
            rows = rows.copy()
        return rows[0] if single else rows

    def take(self, rows: object) -> DecodedImages:
        """The images of ``rows`` (as :meth:`__getitem__` takes them), still at the stored side:
        no resize, and a copy of the selected stored rows only (a slice is a view)."""
        selected, single, _ = self._rows(rows)
        if single:
            raise IndexError(f"take selects rows by a slice or an index array; got {rows!r}")
        return DecodedImages(selected, self.size)

    def __array__(self, dtype: object = None, copy: bool | None = None) -> np.ndarray:
        """Every image at the target size (a copy; without one only when ``s == size``)."""
        if copy is False:
            if self.side != self.size or np.dtype(dtype or np.uint8) != np.uint8:
                raise ValueError(
                    f"images stored at {self.side} px cannot be read at {self.size} px without "
                    "a copy"
                )
            return self.stored.view(np.ndarray)
        array = self[:]
        return array if dtype is None else array.astype(dtype, copy=False)


def select_rows(images: np.ndarray | DecodedImages, rows: np.ndarray) -> np.ndarray | DecodedImages:
    """``images.take(rows)`` of :class:`DecodedImages` (no resize), ``images[rows]`` of an array."""
    if isinstance(images, DecodedImages):
        return images.take(rows)
    return images[rows]


def decode_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    workers: int | None = None,
) -> tuple[DecodedImages, list[Path]]:
    """Decode files into :class:`DecodedImages` read at size x size, stored at their native side
    when they allow it (module docstring).

    Args:
        files: image paths, in the order of the output rows.
        size: side length the images are read at (whole image resized, aspect ratio not kept,
            no crop).
        on_error: ``"raise"`` a :class:`CorruptImageError` naming the file, or ``"skip"`` it.
        progress: progress bar (None: follow ``RSDML_PROGRESS``).
        workers: decoding threads (default: up to 4).

    Returns:
        The images (rows of skipped files removed) and the list of skipped paths.
    """
    check_on_error(on_error)
    max_image_pixels()  # a bad setting fails here once, not once per file in the threads
    if size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    paths = [Path(file) for file in files]

    def decode(path: Path) -> np.ndarray | CorruptImageError:
        # Always square: a small square as decoded, anything else already resized to size.
        try:
            return _read(path, size, keep_small_squares=True)
        except CorruptImageError as error:
            if on_error == "raise":
                raise
            return error

    output: np.ndarray | None = None  # allocated at the first image's side
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
                continue
            side = result.shape[0]
            if output is None:
                output = np.empty((len(paths), 3, side, side), dtype=np.uint8)
            elif side != output.shape[2]:
                if output.shape[2] != size:
                    # The pattern broke: every row at size from now on, the earlier ones too
                    # (rows of skipped files are resized as well; they are dropped below).
                    resized = np.empty((len(paths), 3, size, size), dtype=np.uint8)
                    resize_rows(output[:row], size, out=resized[:row])
                    output = resized
                if side != size:
                    result = _resize_pixels(result, size)
            output[row] = result.transpose(2, 0, 1)
    finally:
        # On an error, do not decode the thousands of files still queued before raising it.
        pool.shutdown(wait=True, cancel_futures=True)
    if output is None:  # no file, or every file skipped
        return DecodedImages(np.empty((0, 3, size, size), dtype=np.uint8), size), skipped
    if skipped:
        output = output[keep]
    return DecodedImages(output, size), skipped


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

    array: DecodedImages
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
        side = meta["side"]
        array = np.load(array_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        note(f"ignoring damaged image cache {array_path} ({brief(error)}); decoding again")
        return None
    expected = (count - len(skipped), 3, side, side)
    if type(side) is not int or not 0 < side <= size:
        problem = f"{sidecar_path.name} records a stored side {side!r}, not one of 1..{size}"
    elif array.shape != expected or array.dtype != np.uint8:
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
    edited or replaced file invalidates it. It holds :attr:`DecodedImages.stored`, at the
    images' native side when they allow it (module docstring). Its sidecar ``<key>.json`` records
    the files skipped under ``on_error="skip"``, the stored side, and a SHA-256 checksum of the
    array, verified on every load (also when memory-mapped): a damaged entry (an array whose
    shape disagrees with the sidecar included) is reported on stderr and decoded again, never used.

    Args:
        files: image paths.
        size: side length the images are read at (:attr:`DecodedImages.size`).
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
        return CachedImages(DecodedImages(cached[0], size), cached[1], key)
    images, skipped = decode_images(paths, size, on_error=on_error, progress=progress)
    stored = images.stored
    meta = {
        "skipped": [str(p) for p in skipped],
        "count": len(paths),
        "side": images.side,
        "shape": list(stored.shape),
        "checksum": array_checksum(stored),
    }
    with writing_cache(folder):
        # The sidecar goes first: the .npy is the completion marker that later calls look for.
        atomic_write_json(sidecar_path, meta)
        atomic_save_numpy(array_path, stored)
    if mmap:
        del images, stored
        images = DecodedImages(np.load(array_path, mmap_mode="r", allow_pickle=False), size)
    return CachedImages(images, skipped, key)


def cached_images(
    files: Sequence[Path | str],
    size: int,
    *,
    on_error: OnError = "raise",
    progress: bool | None = None,
    mmap: bool = False,
) -> tuple[DecodedImages, list[Path]]:
    """``(images, skipped_paths)`` of :func:`load_cached_images` (which also gives the cache
    key)."""
    loaded = load_cached_images(files, size, on_error=on_error, progress=progress, mmap=mmap)
    return loaded.array, loaded.skipped


class ImageArrayDataset(torch.utils.data.Dataset):
    """A PyTorch dataset over uint8 (N, 3, S, S) images: an array or :class:`DecodedImages`.

    ``dataset[i]`` is ``(image, label, index)``: the image as a float tensor in [0, 1] after the
    optional ``transform`` (which takes and returns float tensors), its label, and ``indices[i]``
    (default ``i``), the position that memory-based losses use.
    """

    def __init__(
        self,
        images: np.ndarray | DecodedImages,
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
    code. The normalisation is left to the backbone, which applies its own preprocessing
    (:class:`rsdml.models.Preprocessing`).
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
