"""Where rsdml keeps things on disk, and how it writes them without ever leaving half a file.

Every room that persists something (decoded images, backbone features, checkpoints, metrics)
goes through these helpers, so an interrupted run leaves either the old file or the new one,
never a truncated one, and cache keys are computed the same way everywhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CACHE_ENV = "RSDML_CACHE"
DATA_ENV = "RSDML_DATA"


def cache_dir() -> Path:
    """The folder for rsdml's caches: ``$RSDML_CACHE``, else ``$XDG_CACHE_HOME/rsdml``, else ``~/.cache/rsdml``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "rsdml"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: the argument, else ``$RSDML_DATA``, else ``<cache_dir>/data``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return cache_dir() / "data"


def content_key(*parts: Any, length: int = 16) -> str:
    """A short, stable hex digest of JSON-serialisable parts (paths and numpy values allowed)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(f"content_key cannot hash {type(obj).__name__}")

    blob = json.dumps(parts, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write through a temporary file in the target folder, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy scalars and arrays are converted)."""

    def default(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    return atomic_write_text(path, json.dumps(obj, indent=2, default=default) + "\n")


def atomic_save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically."""
    import torch

    return _atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_save_numpy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically (no pickling)."""
    return _atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` atomically."""
    return _atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))
