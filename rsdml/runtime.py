"""How rsdml runs on this machine: which device, which seeds, how many threads, which progress bars.

Kept in one small module so that the data, model, training and evaluation rooms agree on
the same rules (CUDA when present, deterministic seeding, a fixed thread count for the numbers
a run reports, progress on stderr that a papermill kernel can switch off, which OSErrors are
the machine's doing rather than a bug).
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from rsdml.errors import NO_ACCESS_ERRNOS, NO_SPACE_ERRNOS, UserError, os_error_behind

T = TypeVar("T")

PROGRESS_ENV = "RSDML_PROGRESS"
THREADS_ENV = "RSDML_THREADS"

#: Intra-op threads (torch, BLAS, OpenMP) of a training run, whatever the machine's core count.
#: A float sum split over more threads is added in another order, so the same run with 1 and 2
#: threads drifts apart after the first step (1e-6 in the loss) and, through model selection,
#: ends several points of kNN@10 apart. A study derived the count from ``cpu_count // workers``,
#: which made its tables depend on the machine and the worker count; one fixed count does not.
#: Frozen-mode runs are small enough that one thread costs little, and a study's workers use
#: the other cores.
REPRODUCIBLE_THREADS = 1

# OSErrors that say something about this machine (rights, mounts, space), not about rsdml's code.
ENVIRONMENT_ERRNOS = NO_ACCESS_ERRNOS | NO_SPACE_ERRNOS


class DeviceUnavailableError(UserError, RuntimeError):
    """The requested torch device does not exist on this machine; the message names the fix."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA when available, else the CPU; anything else is passed to torch.

    Raises:
        DeviceUnavailableError: an unknown device name, or CUDA requested where none is visible.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:  # torch's message lists every device type it knows
        raise DeviceUnavailableError(
            f"unknown device {str(device)!r}; use --device auto (CUDA when present, else the "
            "CPU), --device cpu or --device cuda"
        ) from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device {str(device)!r} was requested but no CUDA device is visible on this "
                "machine; use --device cpu, or --device auto to take CUDA only when present"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise DeviceUnavailableError(
                f"device {str(device)!r} was requested but only {count} CUDA device(s) are "
                f"visible (cuda:0 to cuda:{count - 1}); pick one of them or use --device auto"
            )
    return resolved


def environment_os_error(error: BaseException) -> OSError | None:
    """The OSError about this machine (no rights, read-only, disk full) behind ``error``, if any.

    Follows explicit causes (``raise ... from``) only: an implicit context may be an unrelated
    error that was already handled.
    """
    return os_error_behind(error, errnos=ENVIRONMENT_ERRNOS)


def _inside(path: Path, folder: str | os.PathLike | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(Path(folder).expanduser().resolve())
    except (OSError, ValueError):
        return False
    return True


def describe_os_error(error: OSError, out: str | os.PathLike | None = None) -> str:
    """One line naming the path an environment OSError hit and what to do about it.

    Args:
        error: an OSError whose errno is in :data:`ENVIRONMENT_ERRNOS`.
        out: the output folder the command was given (``--out``), to point the fix at it.
    """
    from rsdml.storage import CACHE_ENV, cache_dir

    where = error.filename if error.filename is not None else error.filename2
    path = Path(os.fsdecode(where)) if where is not None else None
    shown = repr(str(path)) if path is not None else "a file (the system did not say which)"
    space = error.errno in NO_SPACE_ERRNOS
    suitable = "on a disk with free space" if space else "that is writable"
    if path is not None and _inside(path, out):
        elsewhere = f"choose an --out folder {suitable}"
    elif path is not None and _inside(path, cache_dir()):
        elsewhere = (
            f"set {CACHE_ENV} to a folder {suitable} (the cache is now {str(cache_dir())!r})"
        )
    else:
        elsewhere = f"choose an --out folder {suitable}, or set {CACHE_ENV} to one"
    if space:
        return f"no space left (disk full or quota exceeded) writing {shown}; free space, or {elsewhere}"
    if error.errno == errno.EROFS:
        return f"{shown} is on a read-only file system; {elsewhere}"
    return f"permission denied on {shown}; give this user access to it, or {elsewhere}"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bf16 where supported, else fp16); plain float32 elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded the same way for samplers."""
    random.seed(seed)
    # Third-party code (e.g. scikit-learn defaults) may still draw from the legacy global state.
    np.random.seed(seed % (2**32))  # noqa: NPY002
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def reproducible_thread_count() -> int:
    """The thread count of training runs: ``$RSDML_THREADS`` when set, else
    :data:`REPRODUCIBLE_THREADS`.

    Results reproduce bit for bit only between runs with the same count; raising it (e.g. to
    fine-tune a backbone on a many-core CPU) trades that for speed.

    Raises:
        UserError: ``RSDML_THREADS`` is not a positive integer.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return REPRODUCIBLE_THREADS
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise UserError(
            f"{THREADS_ENV}={value!r} is not a positive whole number; unset it (training then "
            f"uses {REPRODUCIBLE_THREADS} thread, reproducible on any machine) or set e.g. "
            f"{THREADS_ENV}=4"
        )
    return threads


@contextlib.contextmanager
def fixed_threads(threads: int | None = None) -> Iterator[int]:
    """Run the body with exactly ``threads`` intra-op threads, then restore the previous limits.

    Covers torch's own pool and every BLAS and OpenMP library already loaded (scikit-learn's
    K-means included, through threadpoolctl), so that the numbers computed inside do not depend
    on the machine's core count or on the thread settings a caller (a study worker) inherited.

    Args:
        threads: the count; None takes :func:`reproducible_thread_count`.

    Yields:
        The thread count in force.
    """
    from threadpoolctl import threadpool_limits

    count = reproducible_thread_count() if threads is None else int(threads)
    if count < 1:
        raise ValueError(f"threads must be positive, got {count}")
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield count
    finally:
        torch.set_num_threads(previous)


def progress_enabled(explicit: bool | None = None) -> bool:
    """Progress bars are on unless turned off by argument or by ``RSDML_PROGRESS=0``."""
    if explicit is not None:
        return explicit
    return os.environ.get(PROGRESS_ENV, "1").lower() not in {"0", "false", "no", "off"}


def progress(
    iterable: Iterable[T],
    desc: str,
    total: int | None = None,
    enabled: bool | None = None,
    unit: str = "it",
) -> Iterator[T]:
    """A tqdm bar on stderr (or the bare iterable when progress is disabled)."""
    if not progress_enabled(enabled):
        yield from iterable
        return
    from tqdm.auto import tqdm

    yield from tqdm(
        iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, mininterval=0.5
    )
