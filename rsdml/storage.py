"""Where rsdml keeps things on disk, and how it writes them without ever leaving half a file.

Every room that persists something (decoded images, backbone features, checkpoints, metrics)
goes through these helpers, so an interrupted run leaves either the old file or the new one,
never a truncated one, and cache keys are computed the same way everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rsdml.errors import NO_ACCESS_ERRNOS, UserError, brief, os_error_behind

CACHE_ENV = "RSDML_CACHE"
DATA_ENV = "RSDML_DATA"
# A temporary this old in a cache folder belongs to a write that was killed, not to one in progress.
STALE_TEMPORARY_AGE = 24 * 3600.0
_CLEANED_FOLDERS: set[Path] = set()


class CacheNotWritable(UserError, PermissionError):
    """A cache folder cannot be written; the message names the folder and the fix."""


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


def cache_subdir(name: str) -> Path:
    """``cache_dir()/name``, cleared (once per process) of temporaries left by writes killed over a day ago."""
    folder = cache_dir() / name
    if folder not in _CLEANED_FOLDERS:
        _CLEANED_FOLDERS.add(folder)
        # Imported here: rundir is another room's module and may one day import this one.
        from rsdml.rundir import remove_stale_temporaries

        remove_stale_temporaries(folder, older_than=STALE_TEMPORARY_AGE)
    return folder


@contextlib.contextmanager
def writing_cache(folder: str | os.PathLike) -> Iterator[None]:
    """Turn a permission or read-only-filesystem error of the writes inside into :class:`CacheNotWritable`."""
    try:
        yield
    except OSError as error:
        if isinstance(error, UserError) or error.errno not in NO_ACCESS_ERRNOS:
            raise
        raise CacheNotWritable(
            f"cannot write to the cache folder {folder} ({error.strerror or error}); make it "
            f"writable, or set {CACHE_ENV} to a writable folder (e.g. export {CACHE_ENV}=/tmp/rsdml)"
        ) from error


def note(message: str) -> None:
    """Print ``message`` on stderr as one line prefixed with ``rsdml:`` (whitespace runs collapsed)."""
    print("rsdml: " + " ".join(str(message).split()), file=sys.stderr, flush=True)


def array_checksum(array: np.ndarray) -> str:
    """``"sha256:<hex>"`` of an array's bytes in C order (memory maps are read, not copied)."""
    # SHA-256 rather than BLAKE2: with the SHA extensions of current CPUs it is the faster of the
    # two (about 0.2 s for 300 MB on the 2-core development machine).
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(array)).hexdigest()


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


Answer = TypeVar("Answer")


class ContentMemo:
    """Answers of a pure computation kept in this process, found again by the content of its
    inputs: arrays compared by a SHA-256 of their bytes, shape and type, other parts as JSON.
    The ``size`` most recently used answers are kept.

    For work that a process repeats on equal inputs held in new objects (a study worker's
    cells). With ``folder`` the answers (NumPy arrays) are also kept on disk, in that folder of
    the cache (:func:`cache_subdir`), each with a checksum: other processes (the study's other
    workers) and later runs find them there, for work that costs far more than reading it back.
    """

    def __init__(self, size: int, folder: str | None = None) -> None:
        if size < 1:
            raise ValueError(f"a memo keeps at least one answer, got size={size}")
        self.size = size
        self.folder = folder
        self._answers: OrderedDict[str, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def recall(
        self, arrays: Sequence[np.ndarray], parts: Any, compute: Callable[[], Answer]
    ) -> Answer:
        """The answer kept for these ``arrays`` and ``parts``, else ``compute()``, kept."""
        key = content_key(
            [(array.dtype.str, array.shape, array_checksum(array)) for array in arrays],
            parts,
            length=64,
        )
        if key not in self._answers:
            answer = self._read(key) if self.folder else None
            if answer is None:
                answer = compute()
                if self.folder:
                    self._write(key, answer)
            self._answers[key] = answer
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        self._answers.move_to_end(key)
        return self._answers[key]

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return cache_subdir(self.folder) / f"{key}.npz"

    def _read(self, key: str) -> Any:
        """The answer kept on disk, or None when absent or damaged (then computed again)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                answer, checksum = stored["answer"], str(stored["checksum"])
        except Exception as error:  # a damaged or foreign file: compute again rather than fail
            note(f"ignoring damaged cache entry {path} ({brief(error)}); computing it again")
            return None
        if array_checksum(answer) != checksum:
            note(f"ignoring damaged cache entry {path} (checksum mismatch); computing it again")
            return None
        return answer

    def _write(self, key: str, answer: Any) -> None:
        """Keep ``answer`` on disk; a cache that cannot be written only costs the work again."""
        path = self._path(key)
        try:
            make_folder(path.parent)
            atomic_save_npz(path, answer=answer, checksum=np.array(array_checksum(answer)))
        except OSError as error:
            note(f"could not keep {path} ({brief(error)}); it will be computed again next time")


class PathBlocked(UserError, NotADirectoryError):
    """A folder rsdml must create is in the way of a file of the same name (or under one)."""


def make_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and its parents; a file standing where a folder must go is a user error.

    Raises:
        PathBlocked: ``folder`` or one of its parents exists as a file.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder
        )
        raise PathBlocked(
            f"cannot create the folder {folder}: {blocker} is a file, not a folder; choose "
            "another output folder (--out) or move that file away"
        ) from error
    return folder


def temporary_folder(parent: str | os.PathLike, prefix: str) -> Path:
    """A new hidden folder in ``parent`` to stage a result that is renamed into place when whole.

    ``tempfile.mkdtemp`` makes it mode 700 whatever the umask; it gets the mode ``os.mkdir``
    would give (``0o777 & ~umask``), so the renamed result is as readable as any other output.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    folder.chmod(0o777 & ~current_umask())
    return folder


def current_umask() -> int:
    """The process's file-mode creation mask."""
    # Linux reports it without changing it; os.umask can only be read by setting it, which for
    # a moment gives files created by other threads the wrong mode.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write through a temporary file in the target folder, then rename it into place.

    The file gets the mode ``open()`` would give it (``0o666`` less the umask): mkstemp creates
    its temporary private (``0o600``), and the rename would carry that mode to the result, so
    that a group sharing a results folder could not read it.
    """
    path = Path(path)
    make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        failure = os_error_behind(error, implicit=True)
        if failure is not None and (failure is not error or failure.filename is None):
            # Writers such as torch.save turn a full disk into a RuntimeError whose OSError is
            # only the implicit context, and an OSError from a handle names no file: re-raise it
            # as an OSError about the file we were writing, so the caller can say which.
            raise OSError(failure.errno, failure.strerror or str(failure), str(path)) from error
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


def atomic_save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` atomically."""
    import torch

    return _atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_save_numpy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically (no pickling)."""
    return _atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically. Uncompressed: embeddings compress by a few per cent only, and
    compressing a EuroSAT run's 27,000 took 0.4 s of its 13 (2-core AMD EPYC)."""
    return _atomic_write(path, lambda handle: np.savez(handle, **arrays))
